"""ASGI entry point: ``uvicorn control_api.asgi:app`` (settings from the environment)."""

from control_api.app import create_app

app = create_app()
