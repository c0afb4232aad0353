"""cloud-alarm-bridge: cloud-vendor alarm callbacks in, Alertmanager v2 alerts out."""

__version__ = "0.1.0"
