"""Staging adapters: the ``Stager`` port over OpenSSH with the gateway's certificates.

Uploads and downloads compare both sides, send what differs, verify sha256 and rename
atomically; a small standard-library helper (``remote_helper``) is sent to the far side;
every ssh session is bounded in time and size. Residency rules are checked by the
services before these run (``services.staging.residency``).
"""
