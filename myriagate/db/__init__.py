"""Persistence: models, repositories, sessions and migrations."""
