"""Dask distributed clusters for outer folds: address checks and connections with clear errors."""

from __future__ import annotations

import re
import socket
from typing import Any

from livermets.errors import ConfigError

ADDRESS = re.compile(r"^(tcp|tls)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$")
HINT = ("start one (`dask scheduler`, dask-jobqueue, or distributed.LocalCluster) and give its "
        "address as tcp://HOST:PORT")


def address_problem(address: str) -> str | None:
    """Why ``address`` is not a Dask scheduler address (``tcp://HOST:PORT``), or None."""
    match = ADDRESS.match(address.strip())
    if match is not None and 0 < int(match.group(3)) < 65536:
        return None
    return (f"{address!r} is not a Dask scheduler address; use tcp://HOST:PORT "
            "(e.g. tcp://10.0.0.5:8786) or tls://HOST:PORT")


def check_address(address: str, key: str = "compute.scheduler") -> str:
    """``address``, stripped, or a ``ConfigError`` naming ``key`` when it is malformed."""
    problem = address_problem(address)
    if problem is not None:
        raise ConfigError(f"{key}: {problem}")
    return address.strip()


def connect(scheduler: Any, key: str = "compute.scheduler") -> tuple[Any, bool]:
    """A ``distributed.Client`` for an address (or the given client) and whether we own it."""
    try:
        import distributed
    except ImportError as exc:  # pragma: no cover - a dependency of livermets
        raise ConfigError(f"{key} needs Dask distributed: pip install 'dask[distributed]'") from exc
    if isinstance(scheduler, distributed.Client):
        return scheduler, False
    address = check_address(str(scheduler), key)
    host, _, port = address.split("://", 1)[1].rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
        client = distributed.Client(address, timeout="20s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise ConfigError(f"{key}: cannot connect to the Dask scheduler {address!r} ({exc}); "
                          f"{HINT}.") from None
    try:
        client.wait_for_workers(1, timeout=60)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise ConfigError(f"{key}: the Dask scheduler {address!r} has no workers ({exc}); "
                          "start some with `dask worker ADDRESS`.") from None
    return client, True
