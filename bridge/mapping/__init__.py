"""Map: a vendor-neutral Alarm becomes an Alertmanager alert (default.py), within limits (limits.py).

The configuration's rules (bridge.rules) apply between the two; bridge.pipeline composes all three.
"""
