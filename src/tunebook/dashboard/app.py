"""The dashboard's web app: read-only, local by default, safe to point at a live store.

- The store is opened read-only (SQLite ``mode=ro``; PostgreSQL read-only transactions),
  and the app has only GET routes: nothing it serves can change a study.
- Requests whose Host header is not an allowed name are refused (DNS rebinding), and with
  a token every request must carry it (``Authorization: Bearer``, or ``?token=`` once,
  which sets a cookie).
- A missing or corrupt store is an error page, never a crash; it is retried on the next
  request.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from tunebook.analysis.importance import PENDING
from tunebook.dashboard import pages, views
from tunebook.dashboard.cache import StudyCache, Version, version_of
from tunebook.errors import StudyNotFound, TunebookError
from tunebook.records import TrialStatus
from tunebook.store import Store

COOKIE = "tunebook_token"
#: The largest trial index a URL may name (SQLite's integers are 64-bit).
MAX_INDEX = 2**63 - 1
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'")
#: On every reply: what the page may load, no MIME sniffing, no referrer leaving it.
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "no-referrer"}


class StoreHolder:
    """Opens the store on first use and again after a failure (the file may appear)."""

    def __init__(self, url: str | None, store: Store | None = None) -> None:
        self.url = url
        self._cache = StudyCache(store) if store is not None else None
        self._lock = threading.Lock()

    def cache(self) -> StudyCache:
        with self._lock:
            if self._cache is None:
                from tunebook.store import open_store

                self._cache = StudyCache(open_store(self.url, create=False, read_only=True))
            return self._cache


@cache
def _static(name: str) -> tuple[bytes, str]:
    if name == "plotly.js":
        from plotly.offline import get_plotlyjs

        return get_plotlyjs().encode(), "application/javascript"
    if name == "app.css":
        from tunebook.report.html import CSS

        return (CSS + pages.EXTRA_CSS).encode(), "text/css"
    if name == "app.js":
        from tunebook.report.html import RENDER_JS

        own = resources.files("tunebook.dashboard").joinpath("static/app.js").read_text()
        return (RENDER_JS + own).encode(), "application/javascript"
    raise KeyError(name)


def create_app(url: str | None = None, *, store: Store | None = None,
               hosts: Sequence[str] = ("127.0.0.1", "localhost"),
               token: str | None = None) -> FastAPI:
    """The FastAPI app serving ``url`` (or an open ``store``, for tests)."""
    _preload()
    holder = StoreHolder(url, store)
    app = FastAPI(title="tunebook dashboard", docs_url=None, redoc_url=None,
                  openapi_url=None)

    allowed = list(hosts)

    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Awaitable[Any]]) -> Any:
        asked = _host_of(request.headers.get("host", ""))
        if not any(_host_matches(asked, pattern) for pattern in allowed):
            return _error(request, f"this dashboard answers to {', '.join(allowed)}, not "
                          f"{asked or 'a request without a Host'}; open it by one of those "
                          f"names, or restart it with --allow-host {asked or 'NAME'}", 400)
        if token is not None and not _authorised(request, token):
            return _error(request, "a valid token is required (open the page once with "
                          "?token=…, or send Authorization: Bearer …)", 401)
        response = await call_next(request)
        if token is not None and request.query_params.get("token") == token:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    app.add_middleware(SecurityHeaders)  # outermost: on every reply, refusals included

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        where = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg')}"
                          for e in exc.errors())
        return _error(request, f"a bad request: {where}", 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        what = ("no such page: the pages are /, /study?name=S, /trial?study=S&index=N and "
                "/compare?t=S/N" if exc.status_code == 404 else str(exc.detail))
        return _error(request, what, exc.status_code)

    @app.exception_handler(StudyNotFound)
    @app.exception_handler(LookupError)
    async def missing(request: Request, exc: Exception) -> Response:
        return _error(request, str(exc).strip("'\""), 404)

    @app.exception_handler(TunebookError)
    @app.exception_handler(Exception)
    async def broken(request: Request, exc: Exception) -> Response:
        return _error(request, f"the store cannot be read: {exc}", 503)

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        try:
            body, kind = _static(name)
        except KeyError:
            return Response("not found", status_code=404)
        return Response(body, media_type=kind, headers={"Cache-Control": "max-age=3600"})

    @app.get("/", response_class=HTMLResponse)
    def studies_page() -> str:
        return pages.studies_page(views.studies(holder.cache().store))

    @app.get("/api/studies")
    def studies() -> list[dict[str, Any]]:
        return views.studies(holder.cache().store)

    @app.get("/api/study")
    def study(name: str) -> dict[str, Any]:
        c = holder.cache()
        row = views.study_row(c.store, c.store.tree(name))
        # The live poll: the version comes from the row's own aggregates, not new queries.
        counts = {s: row["counts"][s.value] for s in TrialStatus}
        version = version_of(counts, row["last_update"])
        return {**row, "version": _shown(version,
                                         c.importance(name, start=False) is not None)}

    @app.get("/api/study/sections")
    def study_sections(name: str) -> dict[str, Any]:
        version, html = _sections(holder.cache(), name)
        return {"version": version, "html": html}

    @app.get("/api/study/trials")
    def trials(name: str, sort: str = "index", desc: bool = False, status: str = "",
               q: str = "", offset: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=views.PAGE_MAX)] = 100,
               ) -> dict[str, Any]:
        return views.trial_page(holder.cache(), name, sort=sort, desc=desc,
                                status=status or None, text=q, offset=offset, limit=limit)

    @app.get("/study", response_class=HTMLResponse)
    def study_page(name: str) -> str:
        version, html = _sections(holder.cache(), name)
        return pages.study_page(holder.cache().store.tree(name).root.name, version, html)

    @app.get("/api/trial")
    def trial(study: str, index: Annotated[int, Query(ge=0, le=MAX_INDEX)]) -> dict[str, Any]:
        return views.trial_detail(holder.cache().store, study, index)

    @app.get("/trial", response_class=HTMLResponse)
    def trial_page(study: str, index: Annotated[int, Query(ge=0, le=MAX_INDEX)]) -> str:
        return pages.trial_page(views.trial_detail(holder.cache().store, study, index))

    @app.get("/compare", response_class=HTMLResponse)
    def compare(t: Annotated[list[str] | None, Query()] = None) -> str:
        chosen = [x.strip() for x in t or [] if x.strip()][:5]
        addresses = [_address(x) for x in chosen]
        details = views.compare(holder.cache().store, addresses) if addresses else []
        return pages.compare_page(details, chosen)

    return app


def _preload() -> None:
    """Import the figures' and the importance's libraries now, in one thread: a request
    drawing figures and the background thread computing the importance would otherwise
    import plotly and scikit-learn at once, and Python's import lock can then refuse one
    of them ("deadlock detected by _ModuleLock"), seen as a 503 on a cold study page."""
    import contextlib

    import plotly.graph_objects
    import plotly.subplots  # noqa: F401

    with contextlib.suppress(ImportError):  # the importance says how to get it
        import sklearn.ensemble
        import sklearn.inspection
        import sklearn.model_selection  # noqa: F401


def _address(text: str) -> tuple[str, int]:
    study, sep, index = text.rpartition("/")
    if not sep or not index.isdigit():
        raise LookupError(f"{text!r} is not STUDY/INDEX, e.g. my-study/3")
    if int(index) > MAX_INDEX:
        raise LookupError(f"{study!r} has no trial {index}: trial numbers are far smaller")
    return study, int(index)


def _sections(cache: StudyCache, name: str) -> tuple[str, str]:
    from tunebook.report.html import study_sections
    from tunebook.report.timeline import html_section, superseded, timeline_for

    # The timeline is read fresh: a decision can come without any trial changing.
    timeline = timeline_for(cache.store.decisions(), cache.store.tree(name).root.name)
    instead = superseded(timeline, name) if timeline else None

    ranked = cache.importance(name, start=False)

    def build(tree: Any) -> str:
        report = replace(cache.report(tree.root.name), importance=ranked or PENDING)
        return pages.sections(study_sections(report, title=False, instead=instead),
                              views.parallel_figure(report.data.spec, report.data.trials))

    version, html = cache.get(name, f"sections:{instead or ''}:{ranked is not None}", build)
    if ranked is None:
        cache.importance(name)  # start it now the report it reads is built
    return _shown(version, ranked is not None), (html_section(timeline) if timeline
                                                 else "") + html


def _shown(version: Version, ranked: bool) -> str:
    """The version a page shows: the study's, and whether the importance was in it (so the
    live poll fetches the sections again once the importance is ready)."""
    return repr(version) + ("" if ranked else " importance pending")


def _host_of(header: str) -> str:
    """The host of a Host header, without its port (``[::1]:8080`` → ``::1``)."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _host_matches(host: str, pattern: str) -> bool:
    """``pattern`` is a name, an address, ``*`` (any), or ``*.example.org`` (subdomains)."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern.strip("[]")


def check_host_patterns(patterns: Sequence[str]) -> None:
    """Refuse an ``--allow-host`` that no Host could match as meant.

    Raises:
        TunebookError: a ``*`` elsewhere than a leading ``*.``.
    """
    for pattern in patterns:
        if "*" in pattern and not (pattern == "*" or (pattern.startswith("*.")
                                                      and "*" not in pattern[2:])):
            raise TunebookError(f"--allow-host {pattern!r}: a wildcard may only lead a domain "
                                "(*.example.org); name hosts exactly otherwise")


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    offered = (header[7:] if header.lower().startswith("bearer ") else
               request.cookies.get(COOKIE) or request.query_params.get("token") or "")
    return hmac.compare_digest(offered.encode(), token.encode())


def _error(request: Request, message: str, status: int) -> Response:
    if request.url.path.startswith("/api/"):
        response: Response = JSONResponse({"error": message}, status_code=status)
    else:
        response = HTMLResponse(pages.error_page(message, status), status_code=status)
    response.headers.update(HEADERS)  # a 500 is answered outside every middleware
    return response


class SecurityHeaders:
    """Adds :data:`HEADERS` to every HTTP reply (a plain ASGI middleware, so it also sees
    the replies of the middlewares inside it: the Host check's 400, the token's 401)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []), *(
                    (k.lower().encode(), v.encode()) for k, v in HEADERS.items()
                    if k.lower().encode() not in names)]
            await send(message)

        await self.app(scope, receive, with_headers)
