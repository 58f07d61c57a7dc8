"""Passwords (argon2id in a small dedicated pool), usernames and CSRF tokens."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livermets.errors import ConfigError

ROLES = ("admin", "reader")
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
HASH_NICE = 10  # hashing threads run this much nicer than the request handlers (Linux)
# OWASP's argon2id setting (19 MiB, 2 passes, 1 lane): one hash keeps to one core, so a login flood
# leaves the other cores to reading; hashes made with other settings still verify
ARGON2 = {"memory_cost": 19456, "time_cost": 2, "parallelism": 1}
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


class PoolBusy(Exception):
    """Raised when too many password checks are already waiting (the caller answers 503)."""


def check_new_password(password: str) -> str:
    """``password`` if it is acceptable for a new account or a change, else ConfigError."""
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"passwords need at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD or "\x00" in password:
        raise ConfigError(f"passwords are at most {MAX_PASSWORD} characters, without NUL.")
    return password


def _lower_priority() -> None:
    """Make this pool thread (and argon2's lane threads, which inherit it) yield the CPU to
    request handling, so a login flood cannot raise other users' latency much: ``HASH_NICE``
    steps nicer (Linux). Not SCHED_IDLE: on a busy machine that starves a login for seconds
    (a single hash past a 5 s client timeout), and it measured no better against a flood."""
    me = threading.get_native_id()
    with contextlib.suppress(AttributeError, OSError):  # else keep the normal priority
        os.setpriority(os.PRIO_PROCESS, me, min(19, os.getpriority(os.PRIO_PROCESS, me)
                                              + HASH_NICE))


class Passwords:
    """argon2id hashing on a bounded pool of its own, so logins cannot starve other requests."""

    def __init__(self, hasher: PasswordHasher | None = None, workers: int | None = None,
                 max_waiting: int = 256) -> None:
        self.hasher = hasher or PasswordHasher(**ARGON2)
        self.workers = workers or max(1, (os.cpu_count() or 2) // 2)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2",
                                        initializer=_lower_priority)
        self._slots = threading.BoundedSemaphore(max_waiting)
        # unknown users are checked against this, so they take as long as known ones
        self.dummy_hash = self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """An argon2id hash of a new password (length checked), computed in the pool."""
        check_new_password(password)
        return self._submit(self.hasher.hash, password).result()

    def verify_sync(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches (a dummy hash stands in for a missing one)."""
        return self._submit(self._verify, stored_hash, password).result()

    async def verify(self, stored_hash: str | None, password: str) -> bool:
        """Async :meth:`verify_sync`: the event loop waits without holding a worker thread."""
        return await asyncio.wrap_future(self._submit(self._verify, stored_hash, password))

    def _verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            ok = self.hasher.verify(stored_hash or self.dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return ok and stored_hash is not None

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """Run ``fn`` in the pool, or PoolBusy when too many calls are waiting already."""
        if not self._slots.acquire(blocking=False):
            raise PoolBusy()
        try:
            future = self._pool.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _f: self._slots.release())
        return future

    def close(self) -> None:
        """Stop the pool's threads."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def check_username(name: str) -> str:
    """A valid username (letters, digits, . _ - @; 1-100 characters) or ConfigError."""
    name = name.strip()
    if not name or len(name) > 100 or not set(name) <= USERNAME_CHARS:
        raise ConfigError(f"username {name!r} is not allowed: use 1-100 letters, digits or . _ - @")
    return name


def new_csrf_token() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(32)


def csrf_matches(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison of the session's CSRF token with the submitted one."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
