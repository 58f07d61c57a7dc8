"""The reader-study web app (FastAPI): login, admin pages, the reading flow, images and JSON API."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from livermets.errors import ConfigError, LivermetsError
from livermets.readers import auth
from livermets.readers.accounts import ensure_admin
from livermets.readers.auth import Passwords, PoolBusy
from livermets.readers.config import ReaderStudyFile
from livermets.readers.db import begin_write, make_engine, migrate, normalise_url, session_factory
from livermets.readers.export import ratings_csv, ratings_frame
from livermets.readers.forms import (
    LoginForm,
    PasswordForm,
    PathId,
    RatingForm,
    RatingJson,
    SessionIndex,
    SliceIndex,
    StudyForm,
    parse,
)
from livermets.readers.headers import SecurityHeaders
from livermets.readers.images import WINDOWS, RegionCache, load_region, render_slice
from livermets.readers.models import Assignment, Case, ReadingSession, Study, User, utcnow
from livermets.readers.reading import (
    current_assignment,
    existing_rating,
    next_assignment,
    save_rating,
    session_state,
)
from livermets.readers.secret import load_secret
from livermets.readers.sessions import (
    CookieMiddleware,
    end_session,
    end_user_sessions,
    session_user,
    start_session,
)
from livermets.readers.study import (
    StudyExists,
    StudyRequest,
    insert_study,
    model_names,
    parse_readers,
    prepare_study,
)
from livermets.readers.throttle import LoginThrottle

HERE = Path(__file__).resolve().parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))


class LoginRequired(Exception):
    """Raised by page dependencies when nobody is logged in: the handler redirects to /login."""


def create_app(study_file: ReaderStudyFile, db_url: str, *, passwords: Passwords | None = None,
               clock: Callable[[], float] = time.time,
               throttle: LoginThrottle | None = None) -> FastAPI:
    """The FastAPI app of one reader-study file and database (schema migrated on creation).

    ``passwords`` (argon2 settings and pool), ``clock`` (seconds, for session lifetimes and
    login lockouts) and ``throttle`` may be replaced, e.g. by tests.
    """
    secret = load_secret(study_file.secret_env, study_file.secret_file, normalise_url(db_url))
    engine = make_engine(db_url)
    migrate(engine)
    factory = session_factory(engine)
    passwords = passwords or Passwords()
    throttle = throttle or LoginThrottle(clock)
    ensure_admin(factory, study_file, passwords)
    lifetime_s = study_file.session_max_hours * 3600
    regions = RegionCache()
    app = FastAPI(title="livermets reader study", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(CookieMiddleware, secret=secret,
                       idle_s=study_file.session_idle_hours * 3600, clock=clock)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.state.engine, app.state.factory = engine, factory
    app.state.passwords, app.state.throttle = passwords, throttle
    app.state.regions = regions

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
        """The user of the request's live login session, if any."""
        return session_user(db, request.session.get("sid"), clock())

    def role(name: str | None, page: bool) -> Any:
        """A dependency returning the logged-in user (of role ``name``; 401/403 otherwise)."""

        def dependency(request: Request, db: Session = Depends(get_db, scope="function")) -> User:
            user = user_of(request, db)
            if user is None:
                if page:
                    raise LoginRequired()
                raise HTTPException(401, "log in first")
            if name is not None and user.role != name:
                raise HTTPException(403, f"this needs the {name} role")
            return user

        return dependency

    admin_page, reader_page = role("admin", True), role("reader", True)
    admin_api, reader_api = role("admin", False), role("reader", False)
    any_page, any_api = role(None, True), role(None, False)

    @app.exception_handler(LoginRequired)
    async def _login_redirect(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StudyExists)
    async def _exists(request: Request, exc: StudyExists) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(LivermetsError)
    async def _user_error(request: Request, exc: LivermetsError) -> Response:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(PoolBusy)
    async def _busy(request: Request, exc: PoolBusy) -> Response:
        return JSONResponse({"detail": "the server is busy checking passwords; retry shortly"},
                            status_code=503, headers={"Retry-After": "5"})

    def page(request: Request, name: str, status_code: int = 200,
             headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        """Render a template with the CSRF token and the logged-in user's name."""
        return TEMPLATES.TemplateResponse(request, name, {"csrf": csrf_token(request),
                                                          **context},
                                          status_code=status_code, headers=headers)

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

    def _lookup(name: str) -> tuple[int, str, str] | None:
        with factory() as db:
            row = db.execute(select(User.id, User.password_hash, User.role)
                             .where(User.username == name)).first()
        return tuple(row) if row is not None else None

    def _start(user_id: int, old_sid: Any) -> str:
        with factory() as db:
            begin_write(db)
            end_session(db, old_sid)
            token = start_session(db, user_id, clock(), lifetime_s)
            db.commit()
        return token

    @app.post("/login")
    async def login(request: Request, form: dict[str, Any] = Depends(submitted)) -> Response:
        """Check the password (throttled, in the hashing pool); on success start a session."""
        creds = parse(LoginForm, form)
        address = request.client.host if request.client else "unknown"
        wait = throttle.begin(creds.username, address)
        if wait > 0:
            await throttle.hold_refusal(wait)
            wait = max(wait - throttle.refusal_delay_s, 1.0)
            seconds = str(math.ceil(wait))
            return page(request, "login.html", status_code=429, headers={"Retry-After": seconds},
                        user=None, error=f"Too many failed logins; try again in {seconds} s.")
        outcome: bool | None = None
        try:
            found = await run_in_threadpool(_lookup, creds.username)
            outcome = await passwords.verify(found[1] if found else None, creds.password)
        finally:
            throttle.end(creds.username, address, outcome)
        if not outcome or found is None:
            return page(request, "login.html", status_code=401, user=None,
                        error="Unknown user or wrong password.")
        token = await run_in_threadpool(_start, found[0], request.session.get("sid"))
        request.session.clear()
        request.session.update(sid=token, csrf=auth.new_csrf_token())
        return RedirectResponse("/admin" if found[2] == "admin" else "/read", status_code=303)

    @app.post("/logout")
    def logout(request: Request, form: dict[str, Any] = Depends(submitted),
               db: Session = Depends(get_db, scope="function")) -> Response:
        """End the session: the server forgets it, so a replayed cookie is refused too."""
        begin_write(db)
        end_session(db, request.session.get("sid"))
        db.commit()
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/account/password", response_class=HTMLResponse)
    def password_page(request: Request, user: User = Depends(any_page)) -> Response:
        """The change-password form."""
        return page(request, "password.html", user=user, error=None, done=False,
                    env=study_file.admin.password_env if user.role == "admin" else None)

    @app.post("/account/password", response_class=HTMLResponse)
    def change_password(request: Request, user: User = Depends(any_api),
                        form: dict[str, Any] = Depends(submitted),
                        db: Session = Depends(get_db, scope="function")) -> Response:
        """Change one's password; every other session of the account ends."""
        data = parse(PasswordForm, form)
        env = study_file.admin.password_env if user.role == "admin" else None

        def refuse(message: str, status: int) -> Response:
            return page(request, "password.html", status_code=status, user=user, error=message,
                        done=False, env=env)

        if data.new_password != data.confirm_password:
            return refuse("The new passwords differ.", 422)
        try:
            auth.check_new_password(data.new_password)
        except ConfigError as exc:
            return refuse(str(exc), 422)
        address = request.client.host if request.client else "unknown"
        wait = throttle.begin(user.username, address)
        if wait > 0:
            return refuse(f"Too many wrong passwords; try again in {math.ceil(wait)} s.", 429)
        ok: bool | None = None
        try:
            stored = user.password_hash
            db.commit()  # no transaction open while hashing
            ok = passwords.verify_sync(stored, data.current_password)
        finally:
            throttle.end(user.username, address, ok)
        if not ok:
            return refuse("The current password is wrong.", 403)
        new_hash = passwords.hash(data.new_password)
        begin_write(db)
        db.get(User, user.id).password_hash = new_hash
        end_user_sessions(db, user.id, keep=request.session.get("sid"))
        db.commit()
        return page(request, "password.html", user=user, error=None, done=True, env=env)

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
        """Create a study from the form: slow work first, then one short write transaction."""
        data = parse(StudyForm, {"question": study_file.question, "scale": study_file.scale,
                                 "washout_days": study_file.washout_days,
                                 "seed": study_file.seed, **form})
        req = StudyRequest(name=data.name, question=data.question.strip(), scale=data.scale,
                           washout_days=data.washout_days, seed=data.seed, model=data.model,
                           readers=parse_readers(data.readers))
        prepared = prepare_study(db, study_file, req, passwords.hash)
        begin_write(db)
        try:
            study = insert_study(db, prepared)
            db.commit()
        except IntegrityError:
            db.rollback()
            raise HTTPException(409, "a study of that name or one of the usernames was "
                                "created meanwhile; reload and choose others") from None
        return RedirectResponse(f"/admin/studies/{study.id}", status_code=303)

    def _study(db: Session, study_id: int) -> Study:
        study = db.get(Study, study_id)
        if study is None:
            raise HTTPException(404, "no such study")
        return study

    @app.get("/admin/studies/{study_id}", response_class=HTMLResponse)
    def admin_study(study_id: PathId, request: Request, user: User = Depends(admin_page),
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
    def admin_export(study_id: PathId, user: User = Depends(admin_api),
                     db: Session = Depends(get_db, scope="function")) -> Response:
        """All ratings of the study as CSV (with truth)."""
        study = _study(db, study_id)
        frame = ratings_frame(db, study.name)
        return Response(ratings_csv(frame), media_type="text/csv", headers={
            "Content-Disposition": f'attachment; filename="ratings-{study.id}.csv"'})

    @app.get("/api/admin/studies/{study_id}/ratings")
    def api_admin_ratings(study_id: PathId, user: User = Depends(admin_api),
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
        following = next_assignment(db, reader, session, current)
        ahead = following.case if following is not None else None
        db.commit()  # save opened_at and release the database before reading images
        region = regions.get(case.id, lambda: _load(case))
        if ahead is not None:  # the next case's region is ready when the reader gets there
            regions.prefetch(ahead.id, lambda: _load(ahead))
        view = {"session": state, "locked": False, "done": False,
                "assignment_id": current.id, "position": current.position + 1,
                "n_cases": state["total"], "n_slices": region.n_slices,
                "start_slice": region.start_slice, "shape": region.shape,
                "spacing": list(region.spacing), "volume": f"/api/volumes/{current.id}",
                "question": study.question, "scale": study.scale,
                "windows": list(WINDOWS), "presets": {k: list(v) for k, v in WINDOWS.items()}}
        if session.with_ai:
            view["ai_probability"] = round(case.ai_probability, 4)
        return view

    liver_masks: dict[str, str] = {}
    liver_lock = threading.Lock()

    def _liver_mask(patient_id: str) -> str | None:
        """The cohort's liver mask of a patient (server side only), if it has one."""
        with liver_lock:
            if not liver_masks:
                from livermets.cohort import load_manifest

                rows = load_manifest(study_file.cohort).rows()
                liver_masks.update({r.patient_id: str(r.masks.get("liver_mask") or "")
                                    for r in rows})
            return liver_masks.get(patient_id) or None

    def _load(case: Case) -> Any:
        return load_region(case.image_path, case.mask_path, case.source_label,
                           (case.k0, case.k1, case.j0, case.j1, case.i0, case.i1),
                           _liver_mask(case.patient_id))

    @app.get("/read", response_class=HTMLResponse)
    def reader_home(request: Request, user: User = Depends(reader_page),
                    db: Session = Depends(get_db, scope="function")) -> Response:
        """The reader's sessions with progress and availability."""
        study = db.get(Study, user.study_id)
        states = [session_state(db, user, s, study.washout_days) for s in study.sessions]
        return page(request, "reader_home.html", user=user, study=study, states=states)

    @app.get("/read/{index}", response_class=HTMLResponse)
    def read_case(index: SessionIndex, request: Request, user: User = Depends(reader_page),
                  db: Session = Depends(get_db, scope="function")) -> Response:
        """The reader's current case in a session (resumes where they stopped)."""
        session = _session(db, user, index)
        return page(request, "read.html", user=user, view=_case_view(db, user, session),
                    index=index)

    @app.post("/read/{index}/rate")
    def rate_form(index: SessionIndex, request: Request, user: User = Depends(reader_api),
                  form: dict[str, Any] = Depends(submitted),
                  db: Session = Depends(get_db, scope="function")) -> Response:
        """Save the rating from the reading page, then show the next case (a double-submitted
        form with the same rating is answered like the first)."""
        data = parse(RatingForm, form)
        try:
            save_rating(db, user, data.assignment_id, data.rating, data.comment)
            db.commit()
        except (HTTPException, IntegrityError) as exc:
            db.rollback()
            if isinstance(exc, HTTPException) and exc.status_code != 409:
                raise
            stored = existing_rating(db, data.assignment_id)
            if (stored is None or stored.assignment.reader_id != user.id
                    or (stored.rating, stored.comment) != (data.rating, data.comment)):
                raise HTTPException(409, "this case is rated already") from None
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
    def api_current(index: SessionIndex, user: User = Depends(reader_api),
                    db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """The reader's current case in a session (no truth, no other readers)."""
        return JSONResponse(_case_view(db, user, _session(db, user, index)))

    @app.post("/api/ratings", status_code=201)
    def api_rate(user: User = Depends(reader_api), body: dict[str, Any] = Depends(submitted),
                 db: Session = Depends(get_db, scope="function")) -> JSONResponse:
        """Save one rating of the reader's current case (strict JSON types)."""
        data = parse(RatingJson, body)
        try:
            row = save_rating(db, user, data.assignment_id, data.rating, data.comment)
            db.commit()
        except IntegrityError:
            db.rollback()
            raise HTTPException(409, "this case is rated already") from None
        return JSONResponse({"id": row.id, "assignment_id": data.assignment_id,
                             "rating": row.rating}, status_code=201)

    def _own_case(db: Session, user: User, assignment_id: int) -> tuple[ReadingSession, Case]:
        """The session and case of one of the reader's own assignments in an open session."""
        assignment = db.get(Assignment, assignment_id)
        if assignment is None or assignment.reader_id != user.id:
            raise HTTPException(404, "no such case in your reading list")
        session = assignment.session
        if not session_state(db, user, session, session.study.washout_days)["available"]:
            raise HTTPException(409, "this session is not open yet")
        return session, assignment.case

    @app.get("/api/volumes/{assignment_id}")
    def api_volume(assignment_id: PathId, user: User = Depends(reader_api),
                   db: Session = Depends(get_db, scope="function")) -> Response:
        """The whole region of one of the reader's cases: gzipped int16 HU, then uint8 mask."""
        _, case = _own_case(db, user, assignment_id)
        db.commit()  # release the database before the slow part
        region = regions.get(case.id, lambda: _load(case))
        return Response(region.payload(), media_type="application/octet-stream",
                        headers={"Content-Encoding": "gzip"})

    @app.get("/api/images/{assignment_id}/{index}.png")
    def api_image(assignment_id: PathId, index: SliceIndex, window: str = "liver",
                  marker: int = 1, overlay: int = 0, user: User = Depends(reader_api),
                  db: Session = Depends(get_db, scope="function")) -> Response:
        """One axial PNG slice (preset window) of the region of one of the reader's cases."""
        session, case = _own_case(db, user, assignment_id)
        if window not in WINDOWS:
            raise HTTPException(422, f"window must be one of {sorted(WINDOWS)}")
        if overlay:
            if not session.with_ai:
                raise HTTPException(403, "the AI overlay is shown in the AI session only")
            raise HTTPException(404, "this study has no saliency map of the model to overlay")
        db.commit()  # release the database before the slow part
        region = regions.get(case.id, lambda: _load(case))
        if not 0 <= index < region.n_slices:
            raise HTTPException(404, "no such slice")
        return Response(render_slice(region, index, window, bool(marker)),
                        media_type="image/png")

    return app
