"""``tunebook dashboard``: a live, read-only view of a store in the browser (extra
``dashboard``: FastAPI + uvicorn). See docs/dashboard.md."""

from tunebook.dashboard.app import create_app

__all__ = ["create_app"]
