"""bunkhouse: short-lived Linux environments handed out from a pool of nodes."""

__version__ = "0.1.0"
