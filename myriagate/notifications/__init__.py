"""Delivery adapters for notifications: SMTP e-mail and signed webhooks (docs/notifications.md).

Adapters: they never import services, web, cli or db (import-linter). Library errors are
turned into ``DeliveryFailed`` at the boundary; its ``transient`` flag tells the sender
whether trying again later can help.
"""

from __future__ import annotations

from myriagate.errors import BackendError


class DeliveryFailed(BackendError):
    """A notification could not be delivered (``transient``: retry later)."""

    code = "delivery_failed"
    title = "Notification not delivered"
