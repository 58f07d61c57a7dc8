"""Running the app under uvicorn: no ``server`` banner, client address and scheme taken from
the headers of a trusted TLS proxy."""

from __future__ import annotations

from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


def uvicorn_config(app: Any, host: str, port: int, forwarded_allow_ips: str = "127.0.0.1",
                   **extra: Any) -> Any:
    """A uvicorn Config for the reader app (``forwarded_allow_ips``: proxies trusted for
    X-Forwarded-For / X-Forwarded-Proto)."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, server_header=False, date_header=True,
                          proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips,
                          log_level=extra.pop("log_level", "warning"), **extra)


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for printing)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url if "://" not in url else "<database URL>"
