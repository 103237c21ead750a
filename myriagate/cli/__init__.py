"""The `myriagate` command line."""

# The client first, before any command module imports httpx: its package init keeps httpx's own
# command-line tool from loading (myriagate/client/__init__.py), which every start would pay.
import myriagate.client  # noqa: F401
