"""The reader-study web app (FastAPI): login, admin pages, the reading flow, images and JSON API."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from livermets.errors import LivermetsError
from livermets.readers import auth
from livermets.readers.config import ReaderStudyFile
from livermets.readers.db import begin_write, make_engine, migrate, session_factory
from livermets.readers.export import ratings_frame
from livermets.readers.images import WINDOWS, RegionCache, load_region, render_slice
from livermets.readers.models import (
    Assignment,
    Case,
    Meta,
    Rating,
    ReadingSession,
    Study,
    User,
    utcnow,
)
from livermets.readers.study import StudyRequest, create_study, model_names, parse_readers

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))
MAX_SECONDS = 24 * 3600.0


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is logged in: the handler redirects to /login."""


def _secret(factory: sessionmaker[Session], env_name: str) -> str:
    """The cookie-signing secret: from the environment, else stored once in the database."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    with factory.begin() as db:
        row = db.get(Meta, "secret")
        if row is None:
            row = Meta(key="secret", value=secrets.token_urlsafe(48))
            db.add(row)
        return row.value


def _ensure_admin(factory: sessionmaker[Session], study_file: ReaderStudyFile) -> None:
    """Create the admin account of the study file if it does not exist."""
    name = auth.check_username(study_file.admin.username)
    password = study_file.admin.password()
    with factory.begin() as db:
        user = db.scalar(select(User).where(User.username == name))
        if user is None:
            db.add(User(username=name, password_hash=auth.hash_password(password), role="admin"))
        elif user.role != "admin":
            raise LivermetsError(f"user {name!r} exists as a reader; choose another admin name.")


def session_state(db: Session, reader: User, session: ReadingSession,
                  washout_days: float) -> dict[str, Any]:
    """Progress and availability of one session for one reader."""
    total = db.scalar(select(func.count(Assignment.id)).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id)) or 0
    done = db.scalar(select(func.count(Rating.id)).join(Assignment).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id)) or 0
    state: dict[str, Any] = {"index": session.index, "name": session.name,
                             "with_ai": session.with_ai, "total": total, "done": done,
                             "available": True, "available_from": None}
    if session.index > 0:
        previous = next(s for s in session.study.sessions if s.index == session.index - 1)
        prev_total = db.scalar(select(func.count(Assignment.id)).where(
            Assignment.reader_id == reader.id, Assignment.session_id == previous.id)) or 0
        prev_done, last = db.execute(select(func.count(Rating.id), func.max(Rating.created_at))
                                     .join(Assignment).where(
            Assignment.reader_id == reader.id, Assignment.session_id == previous.id)).one()
        if prev_done < prev_total:
            state["available"] = False
        else:
            opens = last + dt.timedelta(days=washout_days)
            state["available_from"] = opens.strftime("%Y-%m-%d %H:%M UTC")
            state["available"] = utcnow() >= opens
    return state


def current_assignment(db: Session, reader: User, session: ReadingSession) -> Assignment | None:
    """The first case of the reader's order in ``session`` that has no rating yet."""
    rated = select(Rating.assignment_id)
    return db.scalar(select(Assignment).where(
        Assignment.reader_id == reader.id, Assignment.session_id == session.id,
        Assignment.id.not_in(rated)).order_by(Assignment.position).limit(1))


def parse_rating(value: Any, scale: str) -> float:
    """A rating on the study's scale, or HTTP 422."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HTTPException(422, "the rating must be a number") from None
    if not math.isfinite(number):
        raise HTTPException(422, "the rating must be a finite number")
    if scale == "probability" and not 0 <= number <= 100:
        raise HTTPException(422, "the rating must lie between 0 and 100")
    if scale == "five-point" and (number not in (1, 2, 3, 4, 5)):
        raise HTTPException(422, "the rating must be 1, 2, 3, 4 or 5")
    return number


def save_rating(db: Session, reader: User, assignment_id: int, value: Any,
                comment: str) -> Rating:
    """Store the rating of the reader's current case (HTTP 403/409/422 when not allowed)."""
    begin_write(db)
    assignment = db.get(Assignment, assignment_id)
    if assignment is None or assignment.reader_id != reader.id:
        raise HTTPException(404, "no such case in your reading list")
    session = assignment.session
    study = session.study
    rating = parse_rating(value, study.scale)
    if len(comment) > 2000:
        raise HTTPException(422, "comments are limited to 2000 characters")
    if db.scalar(select(Rating.id).where(Rating.assignment_id == assignment.id)) is not None:
        raise HTTPException(409, "this case is rated already")
    if not session_state(db, reader, session, study.washout_days)["available"]:
        raise HTTPException(409, "this session is not open yet")
    current = current_assignment(db, reader, session)
    if current is None or current.id != assignment.id:
        raise HTTPException(409, "rate the cases in the order shown")
    opened = assignment.opened_at or utcnow()
    spent = min(max((utcnow() - opened).total_seconds(), 0.0), MAX_SECONDS)
    row = Rating(assignment_id=assignment.id, rating=rating, comment=comment,
                 time_spent_s=spent)
    db.add(row)
    db.flush()
    return row


def create_app(study_file: ReaderStudyFile, db_url: str) -> FastAPI:
    """The FastAPI app of one reader-study file and database (schema migrated on creation)."""
    engine = make_engine(db_url)
    migrate(engine)
    factory = session_factory(engine)
    _ensure_admin(factory, study_file)
    regions = RegionCache()
    app = FastAPI(title="livermets reader study", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(SessionMiddleware, secret_key=_secret(factory, study_file.secret_env),
                       session_cookie="livermets_session", same_site="strict",
                       max_age=12 * 3600)
    app.state.engine = engine
    app.state.factory = factory

    def get_db() -> Iterator[Session]:
        """A database session committed on success, rolled back on error."""
        db = factory()
        try:
            yield db
            db.commit()
        except BaseException:
            db.rollback()
            raise
        finally:
            db.close()

    def csrf_token(request: Request) -> str:
        """The session's CSRF token (created on first use)."""
        if "csrf" not in request.session:
            request.session["csrf"] = auth.new_csrf_token()
        return request.session["csrf"]

    async def submitted(request: Request) -> dict[str, Any]:
        """The submitted form or JSON body, after checking its CSRF token (403 otherwise)."""
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                body = await request.json()
            except ValueError:
                raise HTTPException(400, "the body is not valid JSON") from None
            if not isinstance(body, dict):
                raise HTTPException(400, "the body must be a JSON object")
            given = request.headers.get("x-csrf-token")
        else:
            form = await request.form()
            body = {k: v for k, v in form.items() if isinstance(v, str)}
            given = body.pop("csrf_token", None) or request.headers.get("x-csrf-token")
        if not auth.csrf_matches(request.session.get("csrf"), given):
            raise HTTPException(403, "missing or wrong CSRF token; reload the page")
        return body

    def user_of(request: Request, db: Session) -> User | None:
        """The logged-in user, if any."""
        uid = request.session.get("uid")
        return db.get(User, uid) if isinstance(uid, int) else None

    def role(name: str, page: bool) -> Any:
        """A dependency returning the logged-in user of role ``name`` (401/403 otherwise)."""

        def dependency(request: Request, db: Session = Depends(get_db, scope="function")) -> User:
            user = user_of(request, db)
            if user is None:
                if page:
                    raise LoginRequired()
                raise HTTPException(401, "log in first")
            if user.role != name:
                raise HTTPException(403, f"this needs the {name} role")
            return user

        return dependency

    admin_page, reader_page = role("admin", True), role("reader", True)
    admin_api, reader_api = role("admin", False), role("reader", False)

    @app.exception_handler(LoginRequired)
    async def _login_redirect(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(LivermetsError)
    async def _user_error(request: Request, exc: LivermetsError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def page(request: Request, name: str, **context: Any) -> HTMLResponse:
        """Render a template with the CSRF token and the logged-in user's name."""
        return TEMPLATES.TemplateResponse(request, name, {"csrf": csrf_token(request),
                                                          **context})

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request, db: Session = Depends(get_db, scope="function")) -> Response:
        """Send users to their start page."""
        user = user_of(request, db)
        if user is None:
            return RedirectResponse("/login", status_code=303)
        return RedirectResponse("/admin" if user.role == "admin" else "/read", status_code=303)

    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request) -> Response:
        """The login form."""
        return page(request, "login.html", error=None, user=None)

    @app.post("/login")
    def login(request: Request, form: dict[str, Any] = Depends(submitted),
              db: Session = Depends(get_db, scope="function")) -> Response:
        """Check the password; on success start a fresh session."""
        name = str(form.get("username", ""))[:100]
        user = db.scalar(select(User).where(User.username == name))
        db.commit()  # release the database during the (slow) password check
        if user is None or not auth.verify_password(user.password_hash,
                                                    str(form.get("password", ""))):
            return TEMPLATES.TemplateResponse(
                request, "login.html", {"csrf": csrf_token(request), "user": None,
                                        "error": "Unknown user or wrong password."},
                status_code=401)
        request.session.clear()
        request.session.update(uid=user.id, csrf=auth.new_csrf_token())
        return RedirectResponse("/admin" if user.role == "admin" else "/read", status_code=303)

    @app.post("/logout")
    def logout(request: Request, form: dict[str, Any] = Depends(submitted)) -> Response:
        """End the session."""
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ----- admin -----
    @app.get("/admin", response_class=HTMLResponse)
    def admin_home(request: Request, user: User = Depends(admin_page),
                   db: Session = Depends(get_db, scope="function")) -> Response:
        """Studies and the form that creates one."""
        studies = db.scalars(select(Study).order_by(Study.id)).all()
        return page(request, "admin.html", user=user, studies=studies, file=study_file,
                    models=model_names(study_file), error=None)

    @app.post("/admin/studies")
    def admin_create(request: Request, user: User = Depends(admin_api),
                     form: dict[str, Any] = Depends(submitted),
                     db: Session = Depends(get_db, scope="function")) -> Response:
        """Create a study from the form."""
        try:
            req = StudyRequest(
                name=str(form.get("name", "")).strip(),
                question=str(form.get("question", study_file.question)).strip()[:500],
                scale=str(form.get("scale", study_file.scale)),
                washout_days=float(form.get("washout_days", study_file.washout_days)),
                seed=int(form.get("seed", study_file.seed)),
                model=str(form.get("model", "")),
                readers=parse_readers(str(form.get("readers", ""))))
        except ValueError as exc:
            raise HTTPException(422, f"invalid study settings: {exc}") from None
        begin_write(db)
        study = create_study(db, study_file, req)
        db.commit()
        return RedirectResponse(f"/admin/studies/{study.id}", status_code=303)

    def _study(db: Session, study_id: int) -> Study:
        study = db.get(Study, study_id)
        if study is None:
            raise HTTPException(404, "no such study")
        return study

    @app.get("/admin/studies/{study_id}", response_class=HTMLResponse)
    def admin_study(study_id: int, request: Request, user: User = Depends(admin_page),
                    db: Session = Depends(get_db, scope="function")) -> Response:
        """Progress of every reader in every session."""
        study = _study(db, study_id)
        readers = db.scalars(select(User).where(User.study_id == study.id)
                             .order_by(User.id)).all()
        progress = [(r, [session_state(db, r, s, study.washout_days) for s in study.sessions])
                    for r in readers]
        n_cases = db.scalar(select(func.count(Case.id)).where(Case.study_id == study.id))
        return page(request, "admin_study.html", user=user, study=study, progress=progress,
                    n_cases=n_cases)

    @app.get("/admin/studies/{study_id}/ratings.csv")
    def admin_export(study_id: int, user: User = Depends(admin_api),
                     db: Session = Depends(get_db, scope="function")) -> Response:
        """All ratings of the study as CSV (with truth)."""
        study = _study(db, study_id)
        frame = ratings_frame(db, study.name)
        buffer = io.StringIO()
        frame.to_csv(buffer, index=False, quoting=csv.QUOTE_MINIMAL)
        return Response(buffer.getvalue(), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="ratings-{study.id}.csv"'})

    @app.get("/api/admin/studies/{study_id}/ratings")
    def api_admin_ratings(study_id: int, user: User = Depends(admin_api),
                          db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """All ratings of the study as JSON records (admin only)."""
        study = _study(db, study_id)
        frame = ratings_frame(db, study.name)
        return JSONResponse(frame.astype(object).where(frame.notna(), None)
                            .to_dict(orient="records"))

    # ----- reader -----
    def _session(db: Session, reader: User, index: int) -> ReadingSession:
        session = db.scalar(select(ReadingSession).where(
            ReadingSession.study_id == reader.study_id, ReadingSession.index == index))
        if session is None:
            raise HTTPException(404, "no such session")
        return session

    def _case_view(db: Session, reader: User, session: ReadingSession) -> dict[str, Any]:
        """What a reader may see of their current case (never truth or other readers)."""
        study = session.study
        state = session_state(db, reader, session, study.washout_days)
        if not state["available"]:
            return {"session": state, "locked": True, "done": False}
        current = current_assignment(db, reader, session)
        if current is None:
            return {"session": state, "locked": False, "done": True}
        case = current.case
        if current.opened_at is None:
            begin_write(db)
            current.opened_at = utcnow()
        db.commit()  # save opened_at and release the database before reading images
        region = regions.get(case.id, lambda: _load(case))
        view = {"session": state, "locked": False, "done": False,
                "assignment_id": current.id, "position": current.position + 1,
                "n_cases": state["total"], "n_slices": region.n_slices,
                "start_slice": int(region.mask.reshape(region.n_slices, -1).sum(1).argmax()),
                "question": study.question, "scale": study.scale,
                "windows": list(WINDOWS)}
        if session.with_ai:
            view["ai_probability"] = round(case.ai_probability, 4)
        return view

    def _load(case: Case) -> Any:
        return load_region(case.image_path, case.mask_path, case.source_label,
                           (case.k0, case.k1, case.j0, case.j1, case.i0, case.i1))

    @app.get("/read", response_class=HTMLResponse)
    def reader_home(request: Request, user: User = Depends(reader_page),
                    db: Session = Depends(get_db, scope="function")) -> Response:
        """The reader's sessions with progress and availability."""
        study = db.get(Study, user.study_id)
        states = [session_state(db, user, s, study.washout_days) for s in study.sessions]
        return page(request, "reader_home.html", user=user, study=study, states=states)

    @app.get("/read/{index}", response_class=HTMLResponse)
    def read_case(index: int, request: Request, user: User = Depends(reader_page),
                  db: Session = Depends(get_db, scope="function")) -> Response:
        """The reader's current case in a session (resumes where they stopped)."""
        session = _session(db, user, index)
        return page(request, "read.html", user=user, view=_case_view(db, user, session),
                    index=index)

    @app.post("/read/{index}/rate")
    def rate_form(index: int, request: Request, user: User = Depends(reader_api),
                  form: dict[str, Any] = Depends(submitted),
                  db: Session = Depends(get_db, scope="function")) -> Response:
        """Save the rating from the reading page, then show the next case."""
        try:
            assignment_id = int(form.get("assignment_id", ""))
        except ValueError:
            raise HTTPException(422, "assignment_id must be a whole number") from None
        save_rating(db, user, assignment_id, form.get("rating"),
                    str(form.get("comment", "")))
        db.commit()
        return RedirectResponse(f"/read/{index}", status_code=303)

    @app.get("/api/me")
    def api_me(request: Request, db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """Who is logged in, and the CSRF token for JSON writes."""
        user = user_of(request, db)
        if user is None:
            raise HTTPException(401, "log in first")
        return JSONResponse({"username": user.username, "role": user.role,
                             "csrf": csrf_token(request)})

    @app.get("/api/sessions")
    def api_sessions(user: User = Depends(reader_api),
                     db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """The reader's own sessions and progress."""
        study = db.get(Study, user.study_id)
        return JSONResponse([session_state(db, user, s, study.washout_days)
                             for s in study.sessions])

    @app.get("/api/sessions/{index}/current")
    def api_current(index: int, user: User = Depends(reader_api),
                    db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """The reader's current case in a session (no truth, no other readers)."""
        return JSONResponse(_case_view(db, user, _session(db, user, index)))

    @app.post("/api/ratings", status_code=201)
    def api_rate(user: User = Depends(reader_api), body: dict[str, Any] = Depends(submitted),
                 db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """Save one rating of the reader's current case."""
        assignment_id = body.get("assignment_id")
        if not isinstance(assignment_id, int) or isinstance(assignment_id, bool):
            raise HTTPException(422, "assignment_id must be a whole number")
        comment = body.get("comment", "")
        if not isinstance(comment, str):
            raise HTTPException(422, "comment must be text")
        try:
            row = save_rating(db, user, assignment_id, body.get("rating"), comment)
            db.commit()
        except IntegrityError:
            raise HTTPException(409, "this case is rated already") from None
        return JSONResponse({"id": row.id, "assignment_id": assignment_id,
                             "rating": row.rating}, status_code=201)

    @app.get("/api/images/{assignment_id}/{index}.png")
    def api_image(assignment_id: int, index: int, window: str = "liver", marker: int = 1,
                  overlay: int = 0, user: User = Depends(reader_api),
                  db: Session = Depends(get_db, scope="function")) -> Response:
        """One axial PNG slice of the lesion region of one of the reader's own cases."""
        assignment = db.get(Assignment, assignment_id)
        if assignment is None or assignment.reader_id != user.id:
            raise HTTPException(404, "no such case in your reading list")
        session = assignment.session
        if not session_state(db, user, session, session.study.washout_days)["available"]:
            raise HTTPException(409, "this session is not open yet")
        if window not in WINDOWS:
            raise HTTPException(422, f"window must be one of {sorted(WINDOWS)}")
        if overlay and not session.with_ai:
            raise HTTPException(403, "the AI overlay is shown in the AI session only")
        case = assignment.case
        db.commit()  # release the database before the slow part
        region = regions.get(case.id, lambda: _load(case))
        if not 0 <= index < region.n_slices:
            raise HTTPException(404, "no such slice")
        png = render_slice(region, index, window, bool(marker),
                           case.ai_probability if overlay else None)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private"})

    @app.middleware("http")
    async def _headers(request: Request, call_next: Any) -> Response:
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self'; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
        return response

    return app
