"""The HTTP side both Python clients share: httpx on the server's API prefix with the
bearer token, closed on leaving a `with` block."""

from __future__ import annotations

from typing import ClassVar, Self

import httpx

from latency_tables.protocol import API_PREFIX


class BearerClient:
    default_timeout: ClassVar[float]  # seconds, when the caller gives none; each client sets its own

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url + API_PREFIX,
            headers={"Authorization": f"Bearer {api_token}"},
            timeout=self.default_timeout if timeout is None else timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
