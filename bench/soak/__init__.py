"""The fault soak: a seeded stream of vendor changes, faults at random moments, and a checker against a
model of what the clouds last said about each object (``python bench/soak/run.py``, ``make soak``)."""
