"""Data staging with residency checks — arrives with the staging issue."""
