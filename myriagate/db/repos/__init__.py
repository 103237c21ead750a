"""Queries and conditional writes over the models; callers own the session and transaction."""
