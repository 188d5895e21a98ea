from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from app.models import ROLE_VALUES


def role_choices():
    labels = {"admin": _l("Administrator"), "channel_manager": _l("Channel manager"), "finance": _l("Finance"),
              "distributor": _l("Distributor"), "viewer": _l("Viewer")}
    return [(r, labels[r]) for r in ROLE_VALUES]


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])


class ChangePasswordForm(FlaskForm):
    old_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=10, max=200)])


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Name"), validators=[Optional(), Length(max=100)])
    email = EmailField(_l("Email"), validators=[Optional(), Email(check_deliverability=False), Length(max=120)])
    role = SelectField(_l("Role"), choices=role_choices)
    distributor_code = StringField(_l("Distributor code (distributor users only)"),
                                   validators=[Optional(), Length(max=32)])
    password = PasswordField(_l("Password"), validators=[Optional(), Length(min=10, max=200)])
    active = BooleanField(_l("Active"), default=True)


class TokenForm(FlaskForm):
    name = StringField(_l("Token name (which system uses it)"), validators=[DataRequired(), Length(max=100)])
