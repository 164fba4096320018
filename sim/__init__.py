"""sim: a discrete-event simulator of end-edge-cloud collaborative AI."""

__version__ = "0.1.0"
