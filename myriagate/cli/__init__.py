"""The `myriagate` command line."""
