"""myriagate: the gateway between Normandy's researchers and the Myria supercomputer."""

__version__ = "0.1.0"
