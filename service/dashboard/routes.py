"""Dashboard pages and their small JSON/SSE endpoints (see service.dashboard.auth for
who may use them). Mounted by service.app; none of it is in the OpenAPI document."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from service.api.deps import DatabaseDep, SessionDep, SettingsDep
from service.api.runs import EventCursor, stream_events
from service.dashboard import auth, tables_view, views
from service.runs import repository
from service.runs.artifacts import find_artifact, run_dir

HERE = Path(__file__).parent
STATIC_PREFIX = "/dashboard/static"
PLOTLY_PATH = "/dashboard/vendor/plotly.min.js"

_templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else ""


def _num(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def _tojson(value: Any) -> Markup:
    """JSON safe inside <script type="application/json"> (no '</script>' can close it)."""
    text = json.dumps(value, default=str).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


def _brief(data: dict[str, Any]) -> str:
    """An event's data on one line: its message, else its scalar fields."""
    if data.get("message"):
        return str(data["message"])
    parts = []
    for key, value in data.items():
        if isinstance(value, float):
            parts.append(f"{key}={_num(value)}")
        elif isinstance(value, (int, str, bool)) or value is None:
            parts.append(f"{key}={value}")
    return " ".join(parts[:8])


_templates.filters.update(when=_when, num=_num, pct=_pct, tojson=_tojson, brief=_brief)


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    settings = request.app.state.settings
    html = _templates.get_template(template).render(
        request=request, path=request.url.path, dev_mode=settings.dev_mode, static=STATIC_PREFIX,
        plotly=PLOTLY_PATH, **context,
    )
    return HTMLResponse(html, status_code=status_code)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    return render(request, "error.html", status_code=status_code, title="Error", message=message)


pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/dashboard/api", include_in_schema=False)


def _login_redirect(request: Request) -> RedirectResponse | None:
    return None if auth.signed_in(request) else RedirectResponse(auth.login_url(request), status_code=303)


@pages.get("/", response_class=HTMLResponse)
def runs_page(request: Request, session: SessionDep, status: str | None = None) -> Response:
    if (redirect := _login_redirect(request)) is not None:
        return redirect
    return render(request, "runs.html", title="Runs", **views.runs_page(session, status))


@pages.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if (redirect := _login_redirect(request)) is not None:
        return redirect
    run = repository.get_run(session, run_id)
    if run is None:
        return error_page(request, 404, f"There is no run {run_id!r}. It may have been deleted; the runs page lists the others.")
    data = views.run_page(session, settings, run)
    return render(request, "run.html", title=f"Run {run_id}", **data)


@pages.get("/devices", response_class=HTMLResponse)
def devices_page(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    if (redirect := _login_redirect(request)) is not None:
        return redirect
    return render(request, "devices.html", title="Devices and agents", **views.devices_page(session, settings))


@pages.get("/tables", response_class=HTMLResponse)
def tables_page(request: Request, session: SessionDep) -> Response:
    if (redirect := _login_redirect(request)) is not None:
        return redirect
    data = tables_view.tables_page(session)
    charts = {
        t["id"]: {"metric": t["metric"], "scatter": t["scatter"], "errors": t["errors"], "families": t["families"]}
        for t in data["tables"]
    }
    return render(request, "tables.html", title="Lookup tables", charts=charts, **data)


@pages.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> Response:
    return render(request, "login.html", title="Sign in", next=auth.safe_next(next), message=None)


@pages.post("/login", response_class=HTMLResponse)
async def login(request: Request, settings: SettingsDep) -> Response:
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    token = (form.get("token") or [""])[0].strip()
    target = auth.safe_next((form.get("next") or ["/"])[0])
    if not auth.token_matches(settings, token):
        # 200, not 401: the form is shown again with the message (a browser logs a 4xx
        # document as a console error).
        return render(
            request, "login.html", title="Sign in", next=target,
            message="That is not this server's API token (NETADAPT_API_TOKEN).",
        )
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        auth.COOKIE_NAME, auth.session_value(settings), max_age=auth.COOKIE_MAX_AGE_SECONDS, httponly=True,
        samesite="strict", secure=request.url.scheme == "https", path="/",
    )
    return response


@pages.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(auth.COOKIE_NAME, path="/")
    return response


@pages.get(PLOTLY_PATH)
def plotly_js() -> FileResponse:
    return FileResponse(plotly_js_path(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})


# -- the live part of the run page -------------------------------------------------------------


def _require(request: Request, *, write: bool = False) -> None:
    if not auth.signed_in(request):
        raise HTTPException(401, "sign in again at /login (the dashboard session has ended)")
    if write and request.headers.get(auth.CSRF_HEADER) != "1":
        raise HTTPException(403, f"send the {auth.CSRF_HEADER}: 1 header")


def _run_or_404(session: Any, run_id: str) -> Any:
    run = repository.get_run(session, run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return run


@api.get("/runs/{run_id}/view")
def run_view(run_id: str, request: Request, session: SessionDep, settings: SettingsDep) -> JSONResponse:
    """The run page's live parts, re-rendered: HTML for the tables, data for the charts."""
    _require(request)
    data = views.run_page(session, settings, _run_or_404(session, run_id))
    html = _templates.get_template("run_live.html").render(**data)
    return JSONResponse(
        {"html": html, "chart": data["chart"], "channels": data["channels"], "status": data["run"]["status"],
         "last_seq": data["last_seq"]}
    )


@api.get("/runs/{run_id}/events/stream")
def run_events(
    run_id: str, request: Request, session: SessionDep, database: DatabaseDep, after: EventCursor = 0
) -> Response:
    _require(request)
    return stream_events(run_id, session, database, request.app.state.run_events, after,
                         request.headers.get("last-event-id"))


@api.post("/runs/{run_id}/{action}")
def run_action(run_id: str, action: str, request: Request, session: SessionDep) -> JSONResponse:
    _require(request, write=True)
    _run_or_404(session, run_id)
    change = {"cancel": repository.request_cancel, "resume": repository.request_resume}.get(action)
    if change is None:
        raise HTTPException(404, f"no action {action!r}; use cancel or resume")
    try:
        run = change(session, run_id)
    except repository.RunStateError as exc:
        raise HTTPException(409, str(exc)) from None
    request.app.state.run_supervisor.wake()
    return JSONResponse({"status": run.status})


@api.get("/runs/{run_id}/artifacts/{name}")
def artifact(run_id: str, name: str, request: Request, session: SessionDep, settings: SettingsDep) -> FileResponse:
    _require(request)
    _run_or_404(session, run_id)
    found = find_artifact(run_dir(settings.runs_dir, run_id), name)
    if found is None:
        raise HTTPException(404, f"run {run_id} has no artifact {name!r} (yet)")
    media = "application/json" if found.format == "json" else "application/octet-stream"
    return FileResponse(found.path, media_type=media, filename=found.name)


def install_dashboard(app: FastAPI) -> None:
    app.include_router(pages)
    app.include_router(api)
    app.mount(STATIC_PREFIX, StaticFiles(directory=HERE / "static"), name="dashboard-static")
