"""JSON API of returns (/api/v1/returns) and recalls (/api/v1/recalls).

Thin handlers: parse (marshmallow, 400 on bad input), call one service, commit. A distributor user (session or
bearer token) files returns for its own distributor and sees only its own (404 for another's); staff name the
distributor by code. Attachments travel base64-encoded in the request (photos and PDFs, at most 5 MB each) and are
downloaded from ``/returns/<id>/attachments/<attachment_id>``. ``POST /returns/scan`` reads a GS1 DataMatrix
scan (product, lot, expiry, serial) for a form to fill. Errors: 403 wrong role or another distributor, 404 not
found (or not yours), 409 the step is not allowed in the return's status, 422 a business rule refuses it.
"""

from __future__ import annotations

import base64
import binascii

from flask import abort
from flask.views import MethodView
from flask_babel import gettext as _
from flask_login import current_user
from marshmallow import Schema, fields, validate

from app.api_base import Blueprint, PageArgs, PageMeta, refused, requested_distributor
from app.auth.security import roles_required
from app.extensions import db
from app.masterdata.services import paginate
from distribution import recalls as recall_svc
from distribution import return_rules
from distribution import returns as svc
from distribution.models.returns import ReturnStatus

blp = Blueprint("api_return", __name__, url_prefix="/api/v1", description="Returns (退货) and recalls (召回)")

ERRORS = {403: "wrong role, or another distributor", 404: "not found (or another distributor's)",
          409: "not allowed in the current status", 422: "refused by a business rule; details name the lines"}


def _errors(*codes):
    return {"responses": {k: {"description": ERRORS[k]} for k in codes}}


class ReturnLineInSchema(Schema):
    product_code = fields.String(load_default="", validate=validate.Length(max=32))
    lot_no = fields.String(load_default="", validate=validate.Length(max=40))
    scan = fields.String(load_default="", validate=validate.Length(max=200),
                         metadata={"description": "a GS1 DataMatrix scan: fills product (by GTIN), lot and expiry"})
    expires_on = fields.Date(load_default=None, allow_none=True,
                             metadata={"description": "optional; checked against the lot's expiry"})
    quantity = fields.Integer(required=True, strict=False, metadata={"description": "base units, > 0"})
    reason = fields.String(required=True, validate=validate.OneOf(return_rules.REASONS))


class AttachmentInSchema(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=200))
    content_base64 = fields.String(required=True, metadata={"description": "JPEG, PNG, WebP or PDF, at most 5 MB"})


class ReturnInSchema(Schema):
    distributor_code = fields.String(load_default=None, allow_none=True,
                                     metadata={"description": "staff only; a distributor user returns its own"})
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))
    lines = fields.List(fields.Nested(ReturnLineInSchema), required=True, validate=validate.Length(min=1, max=50))
    attachments = fields.List(fields.Nested(AttachmentInSchema), load_default=list,
                              validate=validate.Length(max=return_rules.MAX_ATTACHMENTS))


class ReturnDecisionSchema(Schema):
    approve = fields.Boolean(required=True)
    reason = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000),
                           metadata={"description": "required to reject, and to approve an overstock return"})


class ReceiveLineSchema(Schema):
    line_id = fields.Integer(required=True)
    quantity = fields.Integer(required=True, validate=validate.Range(min=0))


class ReceiveSchema(Schema):
    on_date = fields.Date(load_default=None, allow_none=True)
    lines = fields.List(fields.Nested(ReceiveLineSchema), load_default=None, allow_none=True,
                        metadata={"description": "what arrived per line; default: everything requested"})


class DispositionLineSchema(Schema):
    line_id = fields.Integer(required=True)
    disposition = fields.String(required=True, validate=validate.OneOf(return_rules.DISPOSITIONS))


class DispositionSchema(Schema):
    lines = fields.List(fields.Nested(DispositionLineSchema), required=True, validate=validate.Length(min=1))
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class CreditSchema(Schema):
    on_date = fields.Date(load_default=None, allow_none=True)


class ScanSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))


class ReturnListArgsSchema(PageArgs):
    distributor = fields.String(load_default=None, metadata={"description": "distributor code"})
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in ReturnStatus]))
    q = fields.String(load_default=None)


class ReturnOutSchema(Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    number = fields.String()
    distributor = fields.Dict()
    status = fields.String()
    on_date = fields.Date()
    recall = fields.Dict(allow_none=True)
    note = fields.String(allow_none=True)
    decision_reason = fields.String(allow_none=True)
    lines = fields.List(fields.Dict())
    attachments = fields.List(fields.Dict())
    credit = fields.Dict()
    events = fields.List(fields.Dict())


class ReturnSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String()
    distributor = fields.Dict()
    status = fields.String()
    on_date = fields.Date()
    quantity = fields.Integer()


class ReturnPageSchema(PageMeta):
    items = fields.List(fields.Nested(ReturnSummarySchema))


class RecallLotInSchema(Schema):
    product_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    lot_no = fields.String(required=True, validate=validate.Length(min=1, max=40))


class RecallInSchema(Schema):
    lots = fields.List(fields.Nested(RecallLotInSchema), required=True, validate=validate.Length(min=1, max=50))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    recall_class = fields.String(required=True, validate=validate.OneOf(recall_svc.CLASSES))


class RecallCloseSchema(Schema):
    note = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=2000))


class RecallOutSchema(Schema):
    class Meta:
        ordered = True

    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    recall_class = fields.String()
    reason = fields.String()
    opened_on = fields.Date()
    lots = fields.List(fields.Dict())
    totals = fields.Dict()
    holders = fields.List(fields.Dict())
    returns = fields.List(fields.Dict())


def _s(value) -> str | None:
    return None if value is None else str(value)


def serialise(r) -> dict:
    staff = not current_user.is_distributor
    return {
        "id": r.id, "number": r.number, "distributor": {"code": r.distributor.code, "name": r.distributor.name},
        "status": r.status, "on_date": r.on_date, "note": r.note, "decision_reason": r.decision_reason,
        "recall": {"number": r.recall.number, "status": r.recall.status} if r.recall else None,
        "lines": [{"id": ln.id, "line_no": ln.line_no, "product_code": ln.product.code,
                   "product_name": ln.product.display_name, "lot_no": ln.lot.lot_no,
                   "expires_on": ln.lot.expires_on.isoformat(), "quantity": ln.quantity, "reason": ln.reason,
                   "serial": ln.serial, "restocking_fee_pct": str(ln.restocking_fee_pct),
                   "received_quantity": ln.received_quantity, "disposition": ln.disposition,
                   "gross_amount": _s(ln.gross_amount), "restocking_fee": _s(ln.restocking_fee),
                   "priced_from": [{"invoice_reference": s.invoice_reference, "shipped_on": s.shipped_on.isoformat(),
                                    "quantity": s.quantity, "unit_price": str(s.unit_price), "amount": str(s.amount)}
                                   for s in ln.sources]} for ln in r.lines],
        "attachments": [{"id": a.id, "filename": a.filename, "content_type": a.file.content_type,
                         "size": a.file.size, "url": f"/api/v1/returns/{r.id}/attachments/{a.id}"}
                        for a in r.attachments],
        "credit": {"reference": r.credit_reference, "gross_amount": _s(r.gross_amount),
                   "restocking_fee": _s(r.restocking_fee), "amount": _s(r.credit_amount),
                   "credited_on": _s(r.credited_on and r.credited_on.isoformat())},
        "events": [{"at": e.at.isoformat(), "actor": e.actor if staff or e.actor_id == current_user.id else None,
                    "from_status": e.from_status, "to_status": e.to_status, "note": e.note} for e in r.events],
    }



def _return(return_id: int):
    return svc.get_return(return_id) or abort(404)


def _distributor(code: str | None):
    """A distributor user's own (another code is 403); staff name it."""
    not_own = svc.NotAllowed(_("You may request returns only for your own distributor."))
    return requested_distributor(code, not_own=not_own, unknown=svc.ReturnInvalid)


def _uploads(items) -> list[svc.Upload]:
    out = []
    for n, item in enumerate(items):
        try:
            data = base64.b64decode(item["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            msg = _("%(name)s is not valid base64.", name=item["filename"])
            raise svc.ReturnInvalid(msg, {f"attachments.{n}": [msg]}) from None
        out.append(svc.Upload(item["filename"], data))
    return out


@blp.route("/returns")
class Returns(MethodView):
    @roles_required(*svc.READER_ROLES)
    @blp.arguments(ReturnListArgsSchema, location="query")
    @blp.response(200, ReturnPageSchema)
    def get(self, args):
        """List returns, newest first (a distributor sees its own), filtered by distributor, status, text."""
        items, total = paginate(svc.list_returns(args["distributor"], args["status"], args["q"]), args["page"],
                                args["per_page"])
        return {"items": [{"id": r.id, "number": r.number, "status": r.status, "on_date": r.on_date,
                           "quantity": r.quantity,
                           "distributor": {"code": r.distributor.code, "name": r.distributor.name}} for r in items],
                "page": args["page"], "per_page": args["per_page"], "total": total}

    @roles_required(*svc.REQUESTER_ROLES)
    @blp.arguments(ReturnInSchema)
    @blp.response(201, ReturnOutSchema)
    @blp.doc(**_errors(403, 422))
    def post(self, data):
        """Request a return: every line lot-verified against our shipments and checked by the return policy."""
        try:
            ret = svc.request_return(_distributor(data["distributor_code"]), data["lines"], current_user,
                                     note=data["note"], attachments=_uploads(data["attachments"]))
        except svc.ReturnError as exc:
            return refused(exc)
        db.session.commit()
        return serialise(ret)


@blp.route("/returns/scan", methods=["POST"])
@roles_required(*svc.READER_ROLES)
@blp.arguments(ScanSchema)
@blp.doc(**_errors(422))
def scan(data):
    """Read a GS1 DataMatrix scan ((01) GTIN, (10) lot, (17) expiry, (21) serial; FNC1/GS or parentheses)."""
    try:
        result = svc.read_scan(data["code"])
    except svc.ReturnError as exc:
        return refused(exc)
    s = result.scan
    return {"gtin": s.gtin, "product_code": result.product.code, "product_name": result.product.display_name,
            "lot_no": s.lot_no, "lot_known": result.lot is not None,
            "expires_on": s.expires_on.isoformat() if s.expires_on else None, "serial": s.serial}


@blp.route("/returns/<int:return_id>")
@roles_required(*svc.READER_ROLES)
@blp.response(200, ReturnOutSchema)
@blp.doc(**_errors(404))
def detail(return_id):
    """One return: lines (received, disposition, the prices it was credited at), attachments, credit, history."""
    return serialise(_return(return_id))


def _step(return_id: int, do):
    try:
        ret = do(_return(return_id))
    except svc.ReturnError as exc:
        return refused(exc)
    db.session.commit()
    return serialise(ret)


@blp.route("/returns/<int:return_id>/decision", methods=["POST"])
@roles_required(*svc.DECIDER_ROLES)
@blp.arguments(ReturnDecisionSchema)
@blp.response(200, ReturnOutSchema)
@blp.doc(**_errors(403, 404, 409, 422))
def decide(data, return_id):
    """A channel manager approves or rejects a requested return (a rejection needs a reason)."""
    return _step(return_id, lambda r: svc.decide_return(r, data["approve"], current_user, data["reason"]))


@blp.route("/returns/<int:return_id>/receive", methods=["POST"])
@roles_required(*svc.WAREHOUSE_ROLES)
@blp.arguments(ReceiveSchema)
@blp.response(200, ReturnOutSchema)
@blp.doc(**_errors(403, 404, 409, 422))
def receive(data, return_id):
    """The warehouse receives an approved return into quarantine (one ledger movement per line)."""
    lines = None if data["lines"] is None else {x["line_id"]: x["quantity"] for x in data["lines"]}
    return _step(return_id, lambda r: svc.receive_return(r, current_user, lines, data["on_date"]))


@blp.route("/returns/<int:return_id>/disposition", methods=["POST"])
@roles_required(*svc.WAREHOUSE_ROLES)
@blp.arguments(DispositionSchema)
@blp.response(200, ReturnOutSchema)
@blp.doc(**_errors(403, 404, 409, 422))
def dispose(data, return_id):
    """QA restocks (to the manufacturer's warehouse) or destroys (write-off) each received line."""
    chosen = {x["line_id"]: x["disposition"] for x in data["lines"]}
    return _step(return_id, lambda r: svc.dispose_return(r, current_user, chosen, data["note"]))


@blp.route("/returns/<int:return_id>/credit", methods=["POST"])
@roles_required(*svc.FINANCE_ROLES)
@blp.arguments(CreditSchema)
@blp.response(200, ReturnOutSchema)
@blp.doc(**_errors(403, 404, 409, 422))
def credit(data, return_id):
    """Finance issues the credit memo at the original invoice prices, less the restocking fee (once only)."""
    return _step(return_id, lambda r: svc.issue_credit(r, current_user, data["on_date"]))


@blp.route("/returns/<int:return_id>/attachments/<int:attachment_id>")
@roles_required(*svc.READER_ROLES)
@blp.doc(**_errors(404))
def attachment(return_id, attachment_id):
    """Download an attachment (its owner distributor and manufacturer staff only)."""
    from distribution.return_views import attachment_response

    return attachment_response(return_id, attachment_id)


# -- recalls ------------------------------------------------------------------------------------------------------
def serialise_recall(recall) -> dict:
    dash = recall_svc.recall_dashboard(recall)
    return {
        "id": recall.id, "number": recall.number, "status": recall.status, "recall_class": recall.recall_class,
        "reason": recall.reason, "opened_on": recall.opened_on,
        "lots": [{"product_code": p.code, "lot_no": lot.lot_no, "expires_on": lot.expires_on.isoformat(),
                  "status": lot.status, "on_hand_in_channel": on_hand} for lot, p, on_hand in dash.lots],
        "totals": {"held": dash.held, "recovered": dash.recovered, "outstanding": dash.outstanding},
        "holders": [{"distributor_code": h.code, "distributor_name": h.name, "tier": h.tier, "lot_no": h.lot_no,
                     "held": h.held, "requested": h.requested, "recovered": h.recovered,
                     "outstanding": h.outstanding, "on_hand": h.on_hand,
                     "returns": [{"id": i, "number": n, "status": s} for i, n, s in h.returns]}
                    for h in dash.holders],
        "returns": [{"id": r.id, "number": r.number, "status": r.status, "distributor_code": r.distributor.code}
                    for r in recall.returns],
    }


class RecallSummarySchema(Schema):
    id = fields.Integer()
    number = fields.String()
    status = fields.String()
    recall_class = fields.String()
    opened_on = fields.Date()


class RecallPageSchema(PageMeta):
    items = fields.List(fields.Nested(RecallSummarySchema))


@blp.route("/recalls")
class Recalls(MethodView):
    @roles_required(*recall_svc.STAFF_ROLES)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RecallPageSchema)
    def get(self, args):
        """List recalls, newest first (manufacturer staff)."""
        items, total = paginate(recall_svc.list_recalls(), args["page"], args["per_page"])
        return {"items": [{"id": r.id, "number": r.number, "status": r.status, "recall_class": r.recall_class,
                           "opened_on": r.opened_on} for r in items],
                "page": args["page"], "per_page": args["per_page"], "total": total}

    @roles_required(*svc.DECIDER_ROLES)
    @blp.arguments(RecallInSchema)
    @blp.response(201, RecallOutSchema)
    @blp.doc(**_errors(403, 422))
    def post(self, data):
        """Open a recall: the lots are blocked at once, every holder found, a return created for each."""
        try:
            recall = recall_svc.open_recall(data["lots"], data["reason"], data["recall_class"], current_user)
        except svc.ReturnError as exc:
            return refused(exc)
        db.session.commit()
        return serialise_recall(recall)


def _recall(recall_id: int):
    return recall_svc.get_recall(recall_id) or abort(404)


@blp.route("/recalls/<int:recall_id>")
@roles_required(*recall_svc.STAFF_ROLES)
@blp.response(200, RecallOutSchema)
@blp.doc(**_errors(404))
def recall_detail(recall_id):
    """One recall: its lots, and recovered versus outstanding per holder."""
    return serialise_recall(_recall(recall_id))


@blp.route("/recalls/<int:recall_id>/close", methods=["POST"])
@roles_required(*svc.DECIDER_ROLES)
@blp.arguments(RecallCloseSchema)
@blp.response(200, RecallOutSchema)
@blp.doc(**_errors(403, 404, 409, 422))
def recall_close(data, recall_id):
    """Close the recall (a note is required while units are outstanding); it takes no more returns."""
    try:
        recall = recall_svc.close_recall(_recall(recall_id), current_user, data["note"])
    except svc.ReturnError as exc:
        return refused(exc)
    db.session.commit()
    return serialise_recall(recall)
