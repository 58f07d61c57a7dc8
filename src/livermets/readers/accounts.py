"""Accounts: the admin of the study file (its password rotated at start) and password changes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from livermets.errors import LivermetsError
from livermets.readers.auth import Passwords, check_username
from livermets.readers.config import ReaderStudyFile
from livermets.readers.models import Meta, User
from livermets.readers.sessions import end_user_sessions

ENV_MARK = "admin_env_password"  # argon2 hash of the environment password last applied


def ensure_admin(factory: sessionmaker[Session], study_file: ReaderStudyFile,
                 passwords: Passwords) -> str:
    """Create the admin, or give it the environment's password when that password is new.

    A password changed on the account page survives restarts with the same environment
    password; a different environment password replaces it (and ends the admin's sessions).
    Returns ``created``, ``rotated`` or ``unchanged``.
    """
    name = check_username(study_file.admin.username)
    password = study_file.admin.password()
    with factory() as db:
        user = db.scalar(select(User).where(User.username == name))
        if user is not None and user.role != "admin":
            raise LivermetsError(f"user {name!r} exists as a reader; choose another admin name.")
        mark = db.get(Meta, ENV_MARK)
        mark_hash = mark.value if mark is not None else None
    if user is not None and mark_hash and passwords.verify_sync(mark_hash, password):
        return "unchanged"
    new_hash = passwords.hash(password)  # outside any transaction
    with factory.begin() as db:
        user = db.scalar(select(User).where(User.username == name))
        if user is None:
            db.add(User(username=name, password_hash=new_hash, role="admin"))
            outcome = "created"
        else:
            user.password_hash = new_hash
            end_user_sessions(db, user.id)
            outcome = "rotated"
        mark = db.get(Meta, ENV_MARK)
        if mark is None:
            db.add(Meta(key=ENV_MARK, value=new_hash))
        else:
            mark.value = new_hash
    return outcome
