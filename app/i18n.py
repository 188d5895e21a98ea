"""Flask-Babel: Simplified Chinese first, English second; the choice is kept per user (or per session)."""

from __future__ import annotations

from flask import Flask, current_app, has_request_context, request, session
from flask_babel import get_translations
from flask_login import current_user

from app.extensions import babel


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    lang = request.args.get("lang")
    if lang in languages:
        return lang
    if session.get("lang") in languages:
        return session["lang"]
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def init_i18n(app: Flask) -> None:
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")


def bound_gettext():
    """``gettext`` bound to the current translations, for a block that translates many strings at once (an order's
    price explanations): Flask-Babel looks the domain, locale and catalog up again on every call, this looks them
    up once. Call it as ``_`` so the strings are still extracted: ``_ = bound_gettext(); _("Text %(n)d", n=1)``."""
    translations = get_translations()

    def gettext(string: str, **variables) -> str:
        text = translations.ugettext(string)
        return text % variables if variables else text

    return gettext
