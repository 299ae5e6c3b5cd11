"""The web app and REST API: server-rendered pages (FastAPI + Jinja2) over the state store."""
