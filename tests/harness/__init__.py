"""Helpers the tests share: real processes (Alertmanager, the bridge, redis-server), payloads, fuzzing strategies.

Not tests: nothing here is collected. Fixtures that use these live in the conftest.py of each layer.
"""
