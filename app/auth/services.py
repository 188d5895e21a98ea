"""User administration: create and change users, set passwords, log logins. Services flush, never commit."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from app import audit
from app.auth.security import check_password_policy, hash_password, issue_token, revoke_token, verify_password
from app.extensions import db
from app.models import ROLE_VALUES, ApiToken, Distributor, User, utcnow


class UserError(ValueError):
    """A user could not be created or changed; the message says why, in the user's language."""


def find_user(username: str) -> User | None:
    return db.session.execute(
        select(User).where(func.lower(User.username) == username.strip().lower())
    ).scalar_one_or_none()


def authenticate(username: str, password: str) -> User | None:
    """The active user with these credentials, or None. Records the login (or the failure) in the audit log."""
    user = find_user(username)
    if user is not None and user.active and verify_password(user, password):
        user.last_login_at = utcnow()
        audit.record(db.session, "login", user)
        return user
    if user is None:
        verify_password(None, password)
    audit.record(db.session, "login_failed", "user_account", note=username[:100])
    return None


def create_user(username: str, password: str, role: str, display_name: str | None = None,
                distributor_code: str | None = None, email: str | None = None) -> User:
    """Create a user; a distributor user is bound to exactly one distributor. Raises UserError."""
    username = username.strip()
    if not username or len(username) > 64:
        raise UserError(_("A username of 1 to 64 characters is required."))
    if role not in ROLE_VALUES:
        raise UserError(_("Unknown role %(role)s.", role=role))
    if find_user(username) is not None:
        raise UserError(_("The username %(u)s is already taken.", u=username))
    distributor = None
    if role == "distributor":
        if not distributor_code:
            raise UserError(_("A distributor user must be bound to a distributor."))
        distributor = db.session.execute(
            select(Distributor).where(Distributor.code == distributor_code)
        ).scalar_one_or_none()
        if distributor is None:
            raise UserError(_("Unknown distributor %(code)s.", code=distributor_code))
    elif distributor_code:
        raise UserError(_("Only distributor users are bound to a distributor."))
    try:
        pw_hash = hash_password(password)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    user = User(username=username, display_name=display_name or username, email=email, password_hash=pw_hash,
                role=role, distributor=distributor, active=True)
    db.session.add(user)
    db.session.flush()
    return user


def update_user(user: User, *, role: str | None = None, display_name: str | None = None, email: str | None = None,
                active: bool | None = None, distributor_code: str | None = None) -> User:
    if role is not None and role not in ROLE_VALUES:
        raise UserError(_("Unknown role %(role)s.", role=role))
    new_role = role or user.role
    distributor = user.distributor
    if new_role == "distributor":
        if distributor_code:
            distributor = db.session.execute(
                select(Distributor).where(Distributor.code == distributor_code)
            ).scalar_one_or_none()
            if distributor is None:
                raise UserError(_("Unknown distributor %(code)s.", code=distributor_code))
        if distributor is None:
            raise UserError(_("A distributor user must be bound to a distributor."))
    else:
        distributor = None
    user.role = new_role
    user.distributor = distributor
    if display_name is not None:
        user.display_name = display_name.strip()[:100] or user.username
    if email is not None:
        user.email = email.strip()[:120] or None
    if active is not None:
        user.active = active
    db.session.flush()
    return user


def set_password(user: User, new_password: str) -> None:
    try:
        check_password_policy(new_password)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    user.password_hash = hash_password(new_password)
    audit.record(db.session, "password_changed", user)
    db.session.flush()


def change_own_password(user: User, old_password: str, new_password: str) -> None:
    if not verify_password(user, old_password):
        raise UserError(_("The current password is wrong."))
    set_password(user, new_password)


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Issue an API token; the secret is returned once and never stored."""
    if not name.strip():
        raise UserError(_("Give the token a name (which system uses it)."))
    token, secret = issue_token(user, name.strip()[:100])
    audit.record(db.session, "token_issued", token, note=f"{user.username}: {token.name}")
    return token, secret


def revoke(token: ApiToken) -> None:
    revoke_token(token)
    audit.record(db.session, "token_revoked", token, note=token.name)
