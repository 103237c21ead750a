"""What every use case may rely on: audit records, the authorisation matrix and leases."""
