"""Log in and out, language, own password; user and API-token administration (admin only)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from app.auth import services
from app.auth.forms import ChangePasswordForm, LoginForm, TokenForm, UserForm
from app.auth.security import roles_required
from app.extensions import db, limiter
from app.models import ApiToken, User

bp = Blueprint("auth", __name__)


def _login_limit():
    return current_app.config["LOGIN_RATE_LIMIT"]


def _username_key():
    return "login:" + (request.form.get("username") or "").strip().lower()


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("core.home")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, methods=["POST"], key_func=_username_key)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.username.data, form.password.data)
        db.session.commit()
        if user is not None:
            login_user(user)
            if user.locale:
                session["lang"] = user.locale
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong username or password."), "danger")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.get("/lang/<code>")
def set_language(code):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    session["lang"] = code
    if current_user.is_authenticated:
        current_user.locale = code
        db.session.commit()
    return redirect(_safe_next(request.args.get("next")))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            services.change_own_password(current_user, form.old_password.data, form.new_password.data)
            db.session.commit()
            flash(_("Your password has been changed."), "success")
            return redirect(url_for("core.home"))
        except services.UserError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
    return render_template("auth/password.html", form=form)


# -- administration -----------------------------------------------------------------------------------------------
@bp.get("/admin/users/")
@roles_required("admin")
def users():
    rows = db.session.execute(select(User).order_by(User.role, User.username)).scalars().all()
    return render_template("auth/users.html", users=rows)


@bp.route("/admin/users/new", methods=["GET", "POST"])
@roles_required("admin")
def create_user():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user = services.create_user(form.username.data, form.password.data or "", form.role.data,
                                        form.display_name.data, form.distributor_code.data or None,
                                        form.email.data or None)
            db.session.commit()
            flash(_("User %(u)s created.", u=user.username), "success")
            return redirect(url_for(".edit_user", user_id=user.id))
        except services.UserError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
    return render_template("auth/user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(user_id):
    user = db.session.get(User, user_id) or abort(404)
    form = UserForm(obj=user, distributor_code=user.distributor.code if user.distributor else "")
    form.username.render_kw = {"readonly": True}
    if form.validate_on_submit():
        try:
            services.update_user(user, role=form.role.data, display_name=form.display_name.data,
                                 email=form.email.data or "", active=form.active.data,
                                 distributor_code=form.distributor_code.data or None)
            if form.password.data:
                services.set_password(user, form.password.data)
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".edit_user", user_id=user.id))
        except services.UserError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
    tokens = db.session.execute(select(ApiToken).where(ApiToken.user_id == user.id)
                                .order_by(ApiToken.created_at.desc())).scalars().all()
    return render_template("auth/user_form.html", form=form, user=user, tokens=tokens, token_form=TokenForm())


@bp.post("/admin/users/<int:user_id>/tokens")
@roles_required("admin")
def create_token(user_id):
    user = db.session.get(User, user_id) or abort(404)
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("Give the token a name (which system uses it)."), "danger")
        return redirect(url_for(".edit_user", user_id=user.id))
    token, secret = services.create_token(user, form.name.data)
    db.session.commit()
    return render_template("auth/token_created.html", user=user, token=token, secret=secret)


@bp.post("/admin/tokens/<int:token_id>/revoke")
@roles_required("admin")
def revoke_token(token_id):
    token = db.session.get(ApiToken, token_id) or abort(404)
    services.revoke(token)
    db.session.commit()
    flash(_("Token revoked."), "success")
    return redirect(url_for(".edit_user", user_id=token.user_id))
