"""Passwords (argon2), the signed session cookie's contents, CSRF tokens and role checks."""

from __future__ import annotations

import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from livermets.errors import ConfigError

_HASHER = PasswordHasher()
ROLES = ("admin", "reader")
USERNAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-@")


def hash_password(password: str) -> str:
    """An argon2id hash of ``password``."""
    if len(password) < 8:
        raise ConfigError("passwords need at least 8 characters.")
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (False for any malformed hash)."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


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
