"""JSON API of distribution: agreements (年度协议) under /api/v1/agreements.

Thin handlers: parse (marshmallow, 400 on bad input), call one service, commit. Errors use the project's format:
403 wrong role, 404 not found or not yours, 409 the step is not allowed in the agreement's status, 422 a business
rule refuses it (unknown codes, four eyes, expired licence, overlapping agreement).
"""

from __future__ import annotations

from flask import abort
from flask.views import MethodView
from flask_login import current_user

from app.api_base import Blueprint, refused
from app.auth.security import roles_required
from app.extensions import db
from app.masterdata.services import paginate
from distribution.agreement_schemas import (
    AchievementSchema,
    AgreementInSchema,
    AgreementListArgsSchema,
    AgreementOutSchema,
    AgreementPageSchema,
    NoteSchema,
    ReasonSchema,
)
from distribution.agreements import (
    READER_ROLES,
    SELL_IN_SOURCE,
    WRITER_ROLES,
    AgreementError,
    agreement_achievement,
    approve_agreement,
    create_draft,
    get_agreement,
    list_agreements,
    return_to_draft,
    submit_agreement,
    terminate_agreement,
    update_draft,
)

blp = Blueprint("api_agreement", __name__, url_prefix="/api/v1", description="Distributor agreements (年度协议)")

ERRORS = {403: "wrong role", 404: "not found (or another distributor's)", 409: "not allowed in the current status",
          422: "refused by a business rule; details name the fields"}



def _agreement(agreement_id: int):
    return get_agreement(agreement_id) or abort(404)


def _who(user) -> str | None:
    return None if user is None or current_user.is_distributor else user.username


def serialise(a) -> dict:
    """The agreement as plain values for AgreementOutSchema (staff names left out for distributor users)."""
    def code_name(obj, name):
        return {"code": obj.code, "name": name}

    return {
        "id": a.id, "number": a.number, "distributor": code_name(a.distributor, a.distributor.name),
        "start_date": a.start_date, "end_date": a.end_date, "status": a.status,
        "payment_terms_days": a.payment_terms_days, "proposed_credit_limit": a.proposed_credit_limit,
        "deposit": a.deposit, "rebate_basis": a.rebate_basis, "note": a.note,
        "products": [code_name(p.product, p.product.display_name) for p in a.products],
        "product_lines": [code_name(p.product_line, p.product_line.name) for p in a.product_lines],
        "regions": [code_name(r.region, r.region.full_name) for r in a.regions],
        "terminals": [code_name(t.terminal, t.terminal.name) for t in a.terminals if t.terminal is not None],
        "targets": [{"quarter": t.quarter_label, "product_code": t.product.code if t.product else None,
                     "product_line_code": t.product_line.code if t.product_line else None, "amount": t.amount,
                     "quantity": t.quantity} for t in a.targets],
        "rebate_tiers": [{"threshold_pct": t.threshold_pct, "rate_pct": t.rate_pct} for t in a.rebate_tiers],
        "created_at": a.created_at, "submitted_by": _who(a.submitted_by), "submitted_at": a.submitted_at,
        "approved_by": _who(a.approved_by), "approved_at": a.approved_at, "terminated_by": _who(a.terminated_by),
        "terminated_at": a.terminated_at, "terminated_on": a.terminated_on, "termination_reason": a.termination_reason,
        "expired_at": a.expired_at,
        "events": [{"at": e.at, "actor": None if current_user.is_distributor else e.actor, "action": e.action,
                    "from_status": e.from_status, "to_status": e.to_status, "note": e.note} for e in a.events],
    }


def _summary(a) -> dict:
    return {"id": a.id, "number": a.number, "distributor": {"code": a.distributor.code, "name": a.distributor.name},
            "start_date": a.start_date, "end_date": a.end_date, "status": a.status}


def _row(r) -> dict:
    return {"quarter": str(r.quarter) if r.quarter else None, "target_amount": r.target_amount,
            "target_quantity": r.target_quantity, "sell_in_amount": r.sell_in_amount,
            "sell_in_quantity": r.sell_in_quantity, "amount_pct": r.amount_pct, "quantity_pct": r.quantity_pct,
            "rebate_pct": r.rebate_pct, "rebate_amount": r.rebate_amount}


@blp.route("/agreements")
class Agreements(MethodView):
    @roles_required(*READER_ROLES)
    @blp.arguments(AgreementListArgsSchema, location="query")
    @blp.response(200, AgreementPageSchema)
    def get(self, args):
        """List agreements (a distributor sees its own), filtered by distributor code, status and year."""
        stmt = list_agreements(args.get("distributor"), args.get("status"), args.get("year"))
        items, total = paginate(stmt, args["page"], args["per_page"])
        return {"items": [_summary(a) for a in items], "page": args["page"], "per_page": args["per_page"],
                "total": total}

    @roles_required(*WRITER_ROLES)
    @blp.arguments(AgreementInSchema)
    @blp.response(201, AgreementOutSchema)
    @blp.doc(responses={k: {"description": v} for k, v in ERRORS.items() if k != 409})
    def post(self, data):
        """Create a draft agreement (products, lines, regions and terminals by code)."""
        try:
            agreement = create_draft(data, current_user)
        except AgreementError as exc:
            return refused(exc)
        db.session.commit()
        return serialise(agreement)


@blp.route("/agreements/<int:agreement_id>")
class AgreementItem(MethodView):
    @roles_required(*READER_ROLES)
    @blp.response(200, AgreementOutSchema)
    def get(self, agreement_id):
        """One agreement with its products, territory, targets, rebate tiers and status history."""
        return serialise(_agreement(agreement_id))

    @roles_required(*WRITER_ROLES)
    @blp.arguments(AgreementInSchema)
    @blp.response(200, AgreementOutSchema)
    @blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
    def put(self, data, agreement_id):
        """Replace the content of a draft (only drafts are editable: 409 otherwise)."""
        try:
            agreement = update_draft(_agreement(agreement_id), data, current_user)
        except AgreementError as exc:
            return refused(exc)
        db.session.commit()
        return serialise(agreement)


def _step(agreement_id: int, do):
    try:
        agreement = do(_agreement(agreement_id))
    except AgreementError as exc:
        return refused(exc)
    db.session.commit()
    return serialise(agreement)


@blp.route("/agreements/<int:agreement_id>/submit", methods=["POST"])
@roles_required(*WRITER_ROLES)
@blp.arguments(NoteSchema)
@blp.response(200, AgreementOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def submit(data, agreement_id):
    """Draft → submitted (needs products and a territory or terminals; the period must not have ended)."""
    return _step(agreement_id, lambda a: submit_agreement(a, current_user, data.get("note")))


@blp.route("/agreements/<int:agreement_id>/return", methods=["POST"])
@roles_required(*WRITER_ROLES)
@blp.arguments(ReasonSchema)
@blp.response(200, AgreementOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def return_(data, agreement_id):
    """Submitted → draft, with the reason."""
    return _step(agreement_id, lambda a: return_to_draft(a, current_user, data["reason"]))


@blp.route("/agreements/<int:agreement_id>/approve", methods=["POST"])
@roles_required(*WRITER_ROLES)
@blp.arguments(NoteSchema)
@blp.response(200, AgreementOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def approve(data, agreement_id):
    """Submitted → active, by someone other than the submitter (422 otherwise, and for an expired licence or an
    overlapping active agreement)."""
    return _step(agreement_id, lambda a: approve_agreement(a, current_user, data.get("note")))


@blp.route("/agreements/<int:agreement_id>/terminate", methods=["POST"])
@roles_required(*WRITER_ROLES)
@blp.arguments(ReasonSchema)
@blp.response(200, AgreementOutSchema)
@blp.doc(responses={k: {"description": v} for k, v in ERRORS.items()})
def terminate(data, agreement_id):
    """Draft, submitted or active → terminated, with the reason; no longer in force from today."""
    return _step(agreement_id, lambda a: terminate_agreement(a, current_user, data["reason"]))


@blp.route("/agreements/<int:agreement_id>/achievement")
@roles_required(*READER_ROLES)
@blp.response(200, AchievementSchema)
def achievement(agreement_id):
    """Per quarter: target, sell-in, achievement and rebate, with a total row."""
    agreement = _agreement(agreement_id)
    report = agreement_achievement(agreement)
    return {"agreement_id": agreement.id, "number": agreement.number, "basis": agreement.rebate_basis,
            "sell_in_source": SELL_IN_SOURCE, "rows": [_row(r) for r in report.rows], "total": _row(report.total)}
