"""The app factory uvicorn's worker processes call (`alongside serve --workers N`)."""

from __future__ import annotations

from fastapi import FastAPI

from engine.settings import Settings
from web.app import create_app


def app_from_environment() -> FastAPI:
    """The app for the home ALONGSIDE_HOME names, as `alongside serve` set it."""
    return create_app(Settings())
