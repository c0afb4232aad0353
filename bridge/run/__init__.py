"""The processes of ``serve``: the supervisor with the delivery loop (supervisor.py), and the gunicorn
master it starts for the web tier (webserver.py)."""
