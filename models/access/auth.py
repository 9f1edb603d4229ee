"""Sign-in: users with argon2id password hashes, server-side sessions that expire, rate-limited failures.

A browser session holds only an opaque random token; the database keeps its SHA-256, who it belongs
to and when it ends, so a session can be checked, expired and revoked on the server. Passwords are
never stored or logged, only their argon2id hash. Roles live in `Member` (models/access.py): a user
is an identity, membership decides what it may see and change.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from models.access import audit
from models.access.roles import Actor, PermissionDenied
from models.db import session_scope, utcnow
from models.tables import SignInFailure, User, UserSession
from models.validation import ValidationError, validate_email

SESSION_LIFETIME = timedelta(hours=12)  # absolute: sign in again after this
SESSION_IDLE = timedelta(hours=2)  # a session unused this long has expired
TOUCH_EVERY = timedelta(minutes=1)  # how often last_seen_at is written while in use
MAX_FAILURES = 5  # failed sign-ins per email within FAILURE_WINDOW before it is locked
MAX_CLIENT_FAILURES = 20  # failed sign-ins per client address (any email) within FAILURE_WINDOW
FAILURE_WINDOW = timedelta(minutes=15)
MIN_PASSWORD = 10
MAX_PASSWORD = 1024

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory parameters
# Verified when the email is unknown, so an unknown account costs as much time as a wrong password.
# Made on a process's first sign-in, whoever it is for, not at import: argon2 takes 64 MiB and a
# tenth of a second, and every process (ingest, worker, CLI) imports this module for its tables.
_dummy_hash: str | None = None


def _dummy() -> str:
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = _hasher.hash(secrets.token_hex(16))
    return _dummy_hash


WRONG_CREDENTIALS = "Wrong email or password."


@dataclass(frozen=True)
class SignIn:
    """Outcome of a sign-in attempt: a session token, or a message safe to show."""

    token: str | None = None
    error: str = ""
    retry_after: timedelta | None = None  # set when rate limited

    @property
    def ok(self) -> bool:
        return self.token is not None


# --- passwords and users ---------------------------------------------------------------------


def validate_password(password: str, email: str = "") -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise ValidationError(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValidationError(f"password must be at most {MAX_PASSWORD} characters")
    if not password.strip():
        raise ValidationError("password must not be only spaces")
    if "\x00" in password:
        raise ValidationError("password contains a NUL character")
    if email and password.strip().lower() == email.strip().lower():
        raise ValidationError("password must not be the email address")
    return password


def hash_password(password: str) -> str:
    """argon2id hash of an already validated password (invitations create accounts with it)."""
    return _hasher.hash(password)


def _require_admin(actor: Actor, email: str) -> None:
    """Users are managed from the command line; a member may change only their own password."""
    if actor.system or (actor.email and actor.email.lower() == email):
        return
    raise PermissionDenied(f"only an administrator (the spendsight CLI) can manage the account {email}")


def get_user(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(User.email == email.strip().lower())).first()


def add_user(session: Session, actor: Actor, email: str, password: str) -> User:
    """Create a password user; the email need not be a member yet (membership grants access)."""
    if not actor.system:
        raise PermissionDenied("only an administrator (the spendsight CLI) can add users")
    email = validate_email(email)
    validate_password(password, email)
    if get_user(session, email) is not None:
        raise ValidationError(f"user {email} already exists (change the password with `spendsight user passwd`)")
    user = User(email=email, password_hash=_hasher.hash(password))
    session.add(user)
    audit.record(session, actor, "user.add", entity=email, after={"email": email})
    session.flush()
    return user


def set_password(session: Session, actor: Actor, email: str, password: str) -> User:
    """Change a password: ends the user's sessions and clears their failed sign-ins."""
    email = validate_email(email)
    _require_admin(actor, email)
    validate_password(password, email)
    user = get_user(session, email)
    if user is None:
        raise ValidationError(f"no user {email} (add one with `spendsight user add --email {email}`)")
    user.password_hash = _hasher.hash(password)
    user.password_changed_at = utcnow()
    session.add(user)
    revoke_sessions(session, email)
    session.exec(delete(SignInFailure).where(col(SignInFailure.key) == _email_key(email)))
    audit.record(session, actor, "user.passwd", entity=email)
    session.flush()
    return user


def remove_user(session: Session, actor: Actor, email: str) -> None:
    """Delete a password user and end their sessions (memberships are separate: `member remove`)."""
    if not actor.system:
        raise PermissionDenied("only an administrator (the spendsight CLI) can remove users")
    email = validate_email(email)
    user = get_user(session, email)
    if user is None:
        raise ValidationError(f"no user {email}")
    session.delete(user)
    revoke_sessions(session, email)
    audit.record(session, actor, "user.remove", entity=email, before={"email": email})
    session.flush()


class UserRow(TypedDict):
    email: str
    created_at: datetime
    sessions: int  # live sessions


def list_users(session: Session, now: datetime | None = None) -> list[UserRow]:
    """Users with how many live sessions each has (for `spendsight user list`)."""
    now = now or utcnow()
    live = dict(
        session.exec(
            select(UserSession.email, func.count())
            .where(
                col(UserSession.revoked_at).is_(None),
                UserSession.expires_at > now,
                UserSession.last_seen_at > now - SESSION_IDLE,
            )
            .group_by(UserSession.email)
        ).all()
    )
    return [
        {"email": u.email, "created_at": u.created_at, "sessions": live.get(u.email, 0)}
        for u in session.exec(select(User).order_by(User.email))
    ]


# --- signing in ------------------------------------------------------------------------------


def _email_key(email: str) -> str:
    return f"email:{email}"


def _failures(session: Session, key: str, now: datetime, exclude: list[int] | None = None) -> list[datetime]:
    query = select(SignInFailure.at).where(SignInFailure.key == key, SignInFailure.at > now - FAILURE_WINDOW)
    if exclude:
        query = query.where(col(SignInFailure.id).not_in(exclude))
    return sorted(session.exec(query))


def _locked(
    session: Session, keys: list[tuple[str, int]], now: datetime, exclude: list[int] | None = None
) -> timedelta | None:
    """How long until a sign-in may be tried again, when any key has too many recent failures."""
    waits = []
    for key, limit in keys:
        times = _failures(session, key, now, exclude)
        if len(times) >= limit:
            # The attempt that frees a slot is when the oldest failure that still counts leaves the window.
            waits.append(times[len(times) - limit] + FAILURE_WINDOW - now)
    return max(waits) if waits else None


def authenticate(email: str, password: str, client: str | None = None, now: datetime | None = None) -> SignIn:
    """Check a password and start a session; failures are counted and, past the limit, refused unchecked.

    The attempt is counted (committed) before the password is hashed, and counting is serialized per
    account, so parallel wrong guesses cannot all pass the check while each one's hash is still being
    computed: the sixth of twelve at once is refused. Without a client address (behind a proxy that
    does not pass it) only the per-account limit applies, and it always does.
    """
    now = now or utcnow()
    email = (email or "").strip().lower()
    dummy = _dummy()  # before the lookup: the first sign-in pays for it whether or not the email is known
    keys = [(_email_key(email), MAX_FAILURES)]
    if client:
        keys.append((f"client:{client}", MAX_CLIENT_FAILURES))
    with session_scope() as session:
        wait, attempt_ids = _count_attempt(session, keys, now)
        if wait is not None:
            minutes = max(1, -(-int(wait.total_seconds()) // 60))
            return SignIn(
                error=f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes != 1)}.",
                retry_after=wait,
            )
        user = get_user(session, email) if email else None
        stored_hash = user.password_hash if user else dummy
    # Hashed outside any transaction: the counted attempt is already committed, and no lock is held
    # for the tenth of a second argon2 takes.
    ok = _verify(stored_hash, password or "") and user is not None
    if not ok or user is None:
        return SignIn(error=WRONG_CREDENTIALS)  # the attempt stays counted
    with session_scope() as session:
        session.exec(delete(SignInFailure).where(col(SignInFailure.key) == _email_key(email)))
        session.exec(delete(SignInFailure).where(col(SignInFailure.id).in_(attempt_ids)))
        if _hasher.check_needs_rehash(stored_hash):
            fresh = get_user(session, email)
            if fresh is not None:
                fresh.password_hash = _hasher.hash(password)
                session.add(fresh)
    return SignIn(token=start_session(email, "password", now=now))


def _count_attempt(session: Session, keys: list[tuple[str, int]], now: datetime) -> tuple[timedelta | None, list[int]]:
    """Count this attempt against every key, serialized with other attempts on the same keys.

    Returns (how long to wait, None) when a key is already at its limit (nothing is counted then),
    else (None, the ids of the rows that count this attempt). The rows are written before anything
    is read: on SQLite the write takes the database's single writer lock for the rest of the
    transaction; on PostgreSQL an advisory lock per key does the same for that key.
    """
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        for key, _limit in sorted(keys):
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtextextended(%(k)s, 11))", {"k": key})
    rows = [SignInFailure(key=key, at=now) for key, _limit in keys]
    session.add_all(rows)
    session.flush()
    ids = [row.id for row in rows if row.id is not None]
    wait = _locked(session, keys, now, exclude=ids)
    if wait is not None:
        for row in rows:
            session.delete(row)  # a refused attempt is not counted: the lock ends on time
        return wait, []
    return None, ids


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# --- sessions --------------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(email: str, method: str = "password", now: datetime | None = None) -> str:
    """A new server-side session for a verified identity; returns the token for the browser session."""
    now = now or utcnow()
    email = validate_email(email)
    token = secrets.token_urlsafe(32)
    with session_scope() as session:
        # Housekeeping: sessions long over and failures out of the window are of no further use.
        session.exec(delete(UserSession).where(col(UserSession.expires_at) < now - timedelta(days=1)))
        session.exec(delete(SignInFailure).where(col(SignInFailure.at) < now - FAILURE_WINDOW))
        session.add(
            UserSession(
                token_sha256=_digest(token),
                email=email,
                method=method,
                created_at=now,
                expires_at=now + SESSION_LIFETIME,
                last_seen_at=now,
            )
        )
    return token


def check_session(token: str | None, now: datetime | None = None) -> tuple[Actor | None, str]:
    """(Actor, "ok") for a live session; (None, "expired" | "revoked" | "unknown") otherwise."""
    if not token or not isinstance(token, str):
        return None, "unknown"
    now = now or utcnow()
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_sha256 == _digest(token))).first()
        if row is None:
            return None, "unknown"
        if row.revoked_at is not None:
            return None, "revoked"
        if now >= row.expires_at or now - row.last_seen_at >= SESSION_IDLE:
            return None, "expired"
        if now - row.last_seen_at >= TOUCH_EVERY:
            row.last_seen_at = now
            session.add(row)
        return Actor(row.email), "ok"


def session_method(token: str | None) -> str | None:
    if not token:
        return None
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_sha256 == _digest(token))).first()
        return row.method if row else None


def end_session(token: str | None, now: datetime | None = None) -> None:
    """Sign out: the token stops working at once."""
    if not token:
        return
    with session_scope() as session:
        row = session.exec(select(UserSession).where(UserSession.token_sha256 == _digest(token))).first()
        if row is not None and row.revoked_at is None:
            row.revoked_at = now or utcnow()
            session.add(row)


def revoke_sessions(session: Session, email: str, now: datetime | None = None) -> int:
    rows = session.exec(
        select(UserSession).where(UserSession.email == email, col(UserSession.revoked_at).is_(None))
    ).all()
    for row in rows:
        row.revoked_at = now or utcnow()
        session.add(row)
    return len(rows)
