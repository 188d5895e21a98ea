"""Mapping templates: a distributor's column layout mapped to the canonical fields, proposed automatically,
confirmed once by a person (audited), editable later. Confirming sends the submissions that waited for it back to
the pipeline."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app import audit
from app.extensions import db
from app.models import User
from app.models.base import utcnow
from ingestion import mapping
from ingestion.models import MappingTemplate, Submission, SubmissionStatus


class TemplateError(ValueError):
    """The mapping cannot be saved (``errors``: field → messages); nothing changed."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for msgs in errors.values() for m in msgs))
        self.errors = errors


def check_columns(template: MappingTemplate, columns: dict[str, str | None]) -> dict[str, str]:
    """Clean and check a mapping: known fields, headers of this layout, each header used once, required present."""
    fields = mapping.FIELDS[template.kind]
    cleaned = {f: h for f, h in columns.items() if h}
    errors: dict[str, list[str]] = {}
    for f, h in cleaned.items():
        if f not in fields:
            errors.setdefault(f, []).append(_("Unknown field."))
        elif h not in template.headers:
            errors.setdefault(f, []).append(_("%(h)s is not a column of this layout.", h=h))
    used: dict[str, str] = {}
    for f, h in cleaned.items():
        if h in used:
            errors.setdefault(f, []).append(_("Column %(h)s is already mapped to %(f)s.", h=h, f=used[h]))
        used.setdefault(h, f)
    for group in mapping.REQUIRED[template.kind]:
        if not any(f in cleaned for f in group):
            errors.setdefault(group[0], []).append(_("Required: map one of %(fields)s.", fields=" / ".join(group)))
    if errors:
        raise TemplateError(errors)
    return {f: cleaned[f] for f in fields if f in cleaned}


def confirm_template(template: MappingTemplate, columns: dict[str, str | None], user: User | None,
                     enqueue: bool = True) -> list[int]:
    """Save and confirm ``template`` with ``columns``; the submissions waiting for it go back to the pipeline.
    Returns their ids (the caller commits, then enqueues them when ``enqueue``). Raises TemplateError."""
    before = dict(template.columns)
    template.columns = check_columns(template, columns)
    template.confirmed_at, template.confirmed_by_id = utcnow(), user.id if user else None
    db.session.flush()
    audit.record(db.session, "mapping_confirmed", template, before=before, after=template.columns)
    waiting = list(db.session.execute(select(Submission).where(
        Submission.template_id == template.id, Submission.status == SubmissionStatus.NEEDS_MAPPING.value)).scalars())
    for sub in waiting:
        sub.status = SubmissionStatus.RECEIVED.value
    db.session.flush()
    return [s.id for s in waiting] if enqueue else []


def field_labels() -> dict[str, str]:
    return {
        "business_date": _("Date"), "as_of": _("Stock date"), "customer_name": _("Customer name"),
        "customer_code": _("Customer code"), "customer_region": _("Customer region"),
        "supplier_name": _("Supplier name"), "supplier_code": _("Supplier code"), "product_code": _("Product code"),
        "product_name": _("Product name"), "specification": _("Specification"), "lot_no": _("Lot"),
        "expires_on": _("Expiry"), "quantity": _("Quantity"), "unit": _("Unit"), "unit_price": _("Unit price"),
        "amount": _("Amount"),
    }
