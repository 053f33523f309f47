"""Who may see the dashboard.

Outside dev mode a visitor signs in once with the server's API token (a form at /login);
the server answers with an HttpOnly, SameSite=Strict cookie holding an HMAC derived from
the token (never the token itself), so no page ever carries the token. In dev mode the
pages are open. State-changing calls (cancel, resume) also need the X-Dashboard header,
which a cross-site form cannot send.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from fastapi import Request

from service.settings import Settings

COOKIE_NAME = "netadapt_dashboard"
CSRF_HEADER = "X-Dashboard"
COOKIE_MAX_AGE_SECONDS = 12 * 3600


def session_value(settings: Settings) -> str:
    """The cookie's value: changes whenever the API token changes (signs everyone out)."""
    return hmac.new(settings.api_token.encode(), b"netadapt-dashboard-session-v1", hashlib.sha256).hexdigest()


def token_matches(settings: Settings, token: str) -> bool:
    return bool(token) and hmac.compare_digest(token.encode(), settings.api_token.encode())


def signed_in(request: Request) -> bool:
    settings: Settings = request.app.state.settings
    if settings.dev_mode:
        return True
    cookie = request.cookies.get(COOKIE_NAME, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), session_value(settings).encode())


def safe_next(target: str | None) -> str:
    """Only local paths: a login link must not redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def login_url(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(path, safe='')}"
