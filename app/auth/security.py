"""Authentication (sessions and bearer tokens), CSRF, role checks and the acting user of each request."""

from __future__ import annotations

import functools
import hashlib
import secrets
from datetime import datetime, timedelta

from flask import Flask, abort, g, request
from flask_login import current_user
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from app.extensions import csrf, db, login_manager
from app.models import ApiToken, User, utcnow
from app.tenancy import Actor, actor_for_user, reset_actor, set_actor

PASSWORD_METHOD = "scrypt"  # werkzeug's scrypt: memory-hard, salted (PASSWORD_HASH_METHOD overrides, for tests)
MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "drp_"


class PasswordPolicyError(ValueError):
    pass


def hash_password(password: str) -> str:
    from flask import current_app

    check_password_policy(password)
    return generate_password_hash(password, method=current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_METHOD))


def check_password_policy(password: str) -> None:
    from flask_babel import gettext as _

    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordPolicyError(_("The password must have at least %(n)d characters.", n=MIN_PASSWORD_LENGTH))
    if password.isdigit() or password.isalpha():
        raise PasswordPolicyError(_("The password must mix letters with digits or symbols."))


def verify_password(user: User | None, password: str) -> bool:
    if user is None:
        # Same work as a real check, so response time does not tell which usernames exist.
        check_password_hash(_DUMMY_HASH, password)
        return False
    return check_password_hash(user.password_hash, password)


_DUMMY_HASH = generate_password_hash("not-a-real-password-1", method=PASSWORD_METHOD)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """Create an API token for ``user``; returns the row and the secret, which is shown once and never stored."""
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(user=user, name=name, prefix=prefix, token_hash=_hash_token(secret), expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    return token, secret


def revoke_token(token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        db.session.flush()


LAST_USED_RESOLUTION = timedelta(minutes=1)  # a token's last_used_at is written at most this often


def user_for_token(secret: str) -> User | None:
    """The active user a valid (not revoked, not expired) bearer token belongs to, or None.

    One indexed lookup (the token by its hash, with its user and the user's distributor in the same statement); the
    token's ``last_used_at`` is written only when it is older than :data:`LAST_USED_RESOLUTION`, so a busy system
    does not write a row on every call."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    row = db.session.execute(_token_statement(), {"token_hash": _hash_token(secret)}).one_or_none()
    if row is None:
        return None
    user, token_id, revoked_at, expires_at, last_used_at = row
    if revoked_at is not None:
        return None
    now = utcnow()
    if expires_at is not None and _aware(expires_at) <= now:
        return None
    if not user.active:
        return None
    if last_used_at is None or now - _aware(last_used_at) >= LAST_USED_RESOLUTION:
        # Written at once by id: the flush at the end of the request runs as the (distributor) user, who may not
        # write token rows.
        db.session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            .execution_options(skip_tenant_scope=True, synchronize_session=False)
        )
    g.api_token_id = token_id
    return user


@functools.cache
def _token_statement():
    """The user (with its distributor) and the few token columns the check needs: no token object is loaded."""
    return (select(User, ApiToken.id, ApiToken.revoked_at, ApiToken.expires_at, ApiToken.last_used_at)
            .join(ApiToken, ApiToken.user_id == User.id).where(ApiToken.token_hash == bindparam("token_hash"))
            .options(joinedload(User.distributor)))


def _aware(dt: datetime) -> datetime:
    from datetime import UTC

    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip()
    return None


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def roles_required(*roles: str):
    """Allow the view only to logged-in users with one of ``roles`` (401 when anonymous, 403 otherwise)."""

    def decorator(view):
        @functools.wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                if is_api_request():
                    abort(401)
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = roles
        return wrapped

    return decorator


def init_security(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"

    from flask_babel import lazy_gettext as _l

    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.login_message_category = "warning"

    @login_manager.user_loader
    def _load_user(user_id: str):
        return db.session.get(User, int(user_id))

    @login_manager.request_loader
    def _load_from_token(req):
        token = bearer_token() if is_api_request() else None
        return user_for_token(token) if token else None

    @login_manager.unauthorized_handler
    def _unauthorized():
        if is_api_request():
            abort(401)
        from flask import flash, redirect, url_for

        flash(str(login_manager.login_message), "warning")
        return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))

    @app.before_request
    def _establish_actor():
        if request.endpoint in ("static", "bootstrap.static"):
            return
        user = current_user._get_current_object()
        g.actor_token = set_actor(actor_for_user(user) if user.is_authenticated else Actor(None, "anonymous"))
        if is_api_request() and bearer_token() and user.is_authenticated:
            return  # token calls carry no cookie, so there is nothing to forge
        if is_api_request() and bearer_token() and not user.is_authenticated:
            abort(401)
        if app.config.get("WTF_CSRF_ENABLED", True):
            csrf.protect()

    @app.teardown_request
    def _clear_actor(exc):
        token = g.pop("actor_token", None)
        if token is not None:
            reset_actor(token)
