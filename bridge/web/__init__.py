"""Receive: the Flask app (app.py) with the callback endpoint (ingest.py), the operator's endpoints
(ops.py), who may call (auth.py), what a refusal answers (errors.py) and what the handlers share (state.py)."""
