"""Sessions: a signed cookie (CSRF token and session id) and server-side login sessions with an
idle and an absolute lifetime; logout and password changes delete them."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
import time
from base64 import b64decode, b64encode
from collections.abc import Callable
from typing import Any

import itsdangerous
from itsdangerous.exc import BadSignature
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from livermets.readers.models import AuthSession, User

COOKIE = "livermets_session"


class CookieData(dict):
    """The cookie's contents; remembers whether a handler changed them."""

    modified = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def clear(self) -> None:
        """Empty the cookie."""
        self.modified = True
        super().clear()

    def update(self, *args: Any, **kwargs: Any) -> None:
        """Set several values."""
        self.modified = True
        super().update(*args, **kwargs)

    def pop(self, key: str, *default: Any) -> Any:
        """Remove one value."""
        self.modified = True
        return super().pop(key, *default)


class _ClockSigner(itsdangerous.TimestampSigner):
    """A timestamp signer that reads the app's clock (so tests can move time)."""

    clock: Callable[[], float] = time.time

    def get_timestamp(self) -> int:
        """The clock's current time in whole seconds."""
        return int(self.clock())


class CookieMiddleware:
    """Like Starlette's SessionMiddleware, but sliding (re-signed every ``refresh_s``) and with
    the ``Secure`` flag whenever the request came over HTTPS (directly or via a trusted proxy)."""

    def __init__(self, app: ASGIApp, secret: str, idle_s: float,
                 clock: Callable[[], float] = time.time, refresh_s: float = 300.0) -> None:
        self.app, self.idle_s, self.refresh_s = app, idle_s, refresh_s
        self.signer = _ClockSigner(secret, salt="livermets.readers.cookie")
        self.signer.clock = clock
        self.clock = clock

    def _read(self, raw: str) -> tuple[CookieData, float | None]:
        try:
            data, signed_at = self.signer.unsign(raw.encode(), return_timestamp=True)
            stamp = signed_at.timestamp()
            if self.clock() - stamp > self.idle_s:
                return CookieData(), None
            value = json.loads(b64decode(data))
            return (CookieData(value), stamp) if isinstance(value, dict) else (CookieData(), None)
        except (BadSignature, ValueError):
            return CookieData(), None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = HTTPConnection(scope).cookies.get(COOKIE)
        data, stamp = self._read(raw) if raw else (CookieData(), None)
        scope["session"] = data
        secure = scope.get("scheme") == "https"

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                stale = stamp is not None and self.clock() - stamp > self.refresh_s
                flags = "; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")
                if data and (data.modified or stale):
                    signed = self.signer.sign(b64encode(json.dumps(data).encode())).decode()
                    headers.append("Set-Cookie",
                                   f"{COOKIE}={signed}; Max-Age={int(self.idle_s)}{flags}")
                elif data.modified and raw:
                    headers.append("Set-Cookie", f"{COOKIE}=; Max-Age=0{flags}")
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(tzinfo=None)


def start_session(db: Session, user_id: int, now: float, lifetime_s: float) -> str:
    """A new login session of ``user_id`` (expired ones are swept); returns its token."""
    token = secrets.token_urlsafe(32)
    db.execute(delete(AuthSession).where(AuthSession.expires_at <= _utc(now)))
    db.add(AuthSession(id=_digest(token), user_id=user_id, created_at=_utc(now),
                       expires_at=_utc(now + lifetime_s)))
    return token


def session_user(db: Session, token: Any, now: float) -> User | None:
    """The user of a live session token, or None (unknown, revoked or past its lifetime)."""
    if not isinstance(token, str) or len(token) > 100:
        return None
    return db.scalar(select(User).join(AuthSession, AuthSession.user_id == User.id).where(
        AuthSession.id == _digest(token), AuthSession.expires_at > _utc(now)))


def end_session(db: Session, token: Any) -> None:
    """Revoke one session."""
    if isinstance(token, str):
        db.execute(delete(AuthSession).where(AuthSession.id == _digest(token)))


def end_user_sessions(db: Session, user_id: int, keep: Any = None) -> None:
    """Revoke every session of a user (but ``keep``)."""
    query = delete(AuthSession).where(AuthSession.user_id == user_id)
    if isinstance(keep, str):
        query = query.where(AuthSession.id != _digest(keep))
    db.execute(query)
