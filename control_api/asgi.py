"""ASGI entry points, with settings from the environment: ``uvicorn control_api.asgi:app``, or
``uvicorn --factory control_api.asgi:create`` (what ``wedcloud api`` runs: with several
workers, each process builds its own app when it starts, and nothing when it is imported)."""

from fastapi import FastAPI

from control_api.app import create_app


def create() -> FastAPI:
    return create_app()


def __getattr__(name: str) -> FastAPI:
    # ``app`` is built on first access, so importing the module (the factory's case) builds nothing
    if name == "app":
        app = create_app()
        globals()["app"] = app
        return app
    raise AttributeError(name)
