"""Use cases: submit, track, cancel, read outputs, audit. They receive ports as arguments."""
