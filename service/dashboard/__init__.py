"""The dashboard: server-rendered pages (Jinja2) over the same repository functions the
API uses, Plotly.js charts served from the installed `plotly` package, live run pages
through Server-Sent Events. No Node build.

Pages: `/` (runs), `/runs/{id}`, `/devices`, `/tables`; their own small JSON/SSE
endpoints under `/dashboard/api/`. Access: see service.dashboard.auth.
"""

from service.dashboard.routes import install_dashboard

__all__ = ["install_dashboard"]
