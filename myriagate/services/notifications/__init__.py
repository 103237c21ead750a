"""Notifications: the outbox (which events are worth telling, to whom, queued in the
caller's transaction), the sender that delivers and retries, and the balance watch that
queues allocation events. Delivery adapters live in ``myriagate.notifications``."""
