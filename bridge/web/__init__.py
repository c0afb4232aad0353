"""Receive: the Flask app (app.py) with the callback endpoint (ingest.py), the operator's endpoints
(ops.py), who may call (auth.py) and what a refusal answers (errors.py)."""
