"""Pure domain rules: job states, job specs, walltimes, safe values. No I/O here."""
