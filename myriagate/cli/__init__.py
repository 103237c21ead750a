"""The `myriagate` command line."""

import sys

# httpx imports its own command-line tool at import time (click, pygments, rich.syntax: tens of
# milliseconds of every start where they are installed), which we never run; a None entry makes
# that import fail and httpx defines its stub instead. Done here as in myriagate/client/__init__.py,
# because a command module may import httpx before the client package.
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
