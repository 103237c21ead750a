"""Data staging use cases: uploads to the spool, the staging plan a submission asks for,
the residency check before any byte moves, the worker's step moving inputs in and results
out (verified end to end), and reading datasets."""
