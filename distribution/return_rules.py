"""Pure rules of returns (退货): the return policy, the workflow's steps, the original-price credit and the
restocking fee, and what an attachment may be. Plain values in, plain values out (no Flask, no session); the
messages are codes with parameters that :mod:`distribution.returns` turns into the user's language.

**The return policy** (:class:`ReturnPolicy`, from the app config ``RETURN_POLICY``; defaults below):

* near expiry: accepted only within ``near_expiry_window_days`` (90) before the expiry date, and not once expired;
* damaged in transit: reported within ``damaged_report_days`` (7) of the latest delivery of that lot, with a photo;
* quality complaint: with a photo or document;
* wrong shipment: within ``wrong_shipment_report_days`` (30) of the latest delivery of that lot;
* overstock: the stock must still be saleable (at least ``overstock_min_shelf_days``, 180, to expiry), the
  approval needs a reason, and ``overstock_restocking_fee_pct`` (10 %) of the credited amount is kept as a
  restocking fee;
* recall: only against an open recall of that lot (a closed recall takes no more returns);
* expired stock is never returnable, except under a recall.

**The original price** (:func:`price_from_shipments`): a returned unit is credited at the invoice price of a
shipment that delivered that lot to that distributor, **latest shipments first** (the units a distributor sends
back are most likely from its most recent delivery, and it never earns more than it paid for the newest stock);
each shipment line's units are credited at most once, over every return (what earlier returns used is skipped).
Units beyond what was shipped to the distributor (a tier-2 holder's stock under a recall, received from its tier-1)
have no invoice of ours and are credited nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
REASONS = ("near_expiry", "damaged_in_transit", "quality_complaint", "recall", "wrong_shipment", "overstock")
DISPOSITIONS = ("restock", "destroy")

# which step leads from which status to which (checked by distribution.returns; the only place they are named)
TRANSITIONS: dict[str, dict[str, str]] = {
    "approve": {"requested": "approved"},
    "reject": {"requested": "rejected"},
    "receive": {"approved": "received"},
    "dispose": {"received": "disposed"},
    "credit": {"disposed": "credited"},
}


def next_status(step: str, status: str) -> str | None:
    """The status ``step`` leads to from ``status``, or None when the step is not allowed there."""
    return TRANSITIONS[step].get(status)


def money(value) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ReturnPolicy:
    near_expiry_window_days: int = 90
    damaged_report_days: int = 7
    wrong_shipment_report_days: int = 30
    overstock_min_shelf_days: int = 180
    overstock_restocking_fee_pct: Decimal = Decimal("10")
    attachment_required: tuple[str, ...] = ("damaged_in_transit", "quality_complaint")

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> ReturnPolicy:
        """The defaults with ``values`` (the app config ``RETURN_POLICY``) laid over them; unknown keys are refused
        so a typo in the configuration cannot silently keep a default."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown RETURN_POLICY keys: {', '.join(sorted(unknown))}")
        policy = replace(cls(), **{k: v for k, v in values.items() if k != "attachment_required"
                                   and k != "overstock_restocking_fee_pct"})
        if "overstock_restocking_fee_pct" in values:
            policy = replace(policy, overstock_restocking_fee_pct=Decimal(str(values["overstock_restocking_fee_pct"])))
        if "attachment_required" in values:
            policy = replace(policy, attachment_required=tuple(values["attachment_required"]))
        for f in ("near_expiry_window_days", "damaged_report_days", "wrong_shipment_report_days",
                  "overstock_min_shelf_days"):
            if int(getattr(policy, f)) < 0:
                raise ValueError(f"RETURN_POLICY {f} must not be negative")
        if not Decimal("0") <= policy.overstock_restocking_fee_pct <= Decimal("100"):
            raise ValueError("RETURN_POLICY overstock_restocking_fee_pct must be between 0 and 100")
        return policy

    def fee_pct(self, reason: str) -> Decimal:
        """The restocking fee (percent of the credited amount) a line with ``reason`` pays."""
        return self.overstock_restocking_fee_pct if reason == "overstock" else Decimal("0")


@dataclass(frozen=True)
class Problem:
    """A refusal: ``code`` names the rule, ``params`` fill its message."""

    code: str
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LineFacts:
    """What the policy needs to know about one requested line."""

    reason: str
    quantity: int
    returnable: int  # shipped − already returned (requests in flight included); under a recall: what it holds
    expires_on: date
    last_shipped_on: date | None  # the latest delivery of this lot to this distributor
    has_attachment: bool
    recall_status: str | None = None  # for reason recall: the lot's recall "open" / "closed" / None (none)


def check_line(facts: LineFacts, policy: ReturnPolicy, today: date) -> list[Problem]:
    """Every rule ``facts`` break, in a fixed order (empty: the line may be requested)."""
    problems: list[Problem] = []
    if facts.reason not in REASONS:
        return [Problem("unknown_reason", {"reason": facts.reason})]
    days_left = (facts.expires_on - today).days
    since = None if facts.last_shipped_on is None else (today - facts.last_shipped_on).days
    if facts.reason == "recall":
        if facts.recall_status is None:
            problems.append(Problem("no_recall"))
        elif facts.recall_status != "open":
            problems.append(Problem("recall_closed"))
    elif days_left < 0:
        problems.append(Problem("expired", {"expires_on": facts.expires_on}))
    if facts.quantity > facts.returnable:
        problems.append(Problem("too_many", {"quantity": facts.quantity, "returnable": max(facts.returnable, 0)}))
    if facts.reason == "near_expiry" and days_left > policy.near_expiry_window_days:
        problems.append(Problem("not_near_expiry", {"days": days_left, "window": policy.near_expiry_window_days}))
    if facts.reason == "damaged_in_transit" and since is not None and since > policy.damaged_report_days:
        problems.append(Problem("damage_reported_late", {"days": since, "limit": policy.damaged_report_days}))
    if facts.reason == "wrong_shipment" and since is not None and since > policy.wrong_shipment_report_days:
        problems.append(Problem("wrong_shipment_late", {"days": since, "limit": policy.wrong_shipment_report_days}))
    if facts.reason == "overstock" and 0 <= days_left < policy.overstock_min_shelf_days:
        problems.append(Problem("overstock_short_shelf", {"days": days_left,
                                                          "minimum": policy.overstock_min_shelf_days}))
    if facts.reason in policy.attachment_required and not facts.has_attachment:
        problems.append(Problem("attachment_required", {"reason": facts.reason}))
    return problems


def approval_needs_reason(reasons: Iterable[str]) -> bool:
    """An approval must give a reason when any line is an overstock return (the policy's "only with approval")."""
    return "overstock" in set(reasons)


# -- the original price -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ShippedUnits:
    """One shipment line that delivered the lot to the distributor, with what earlier returns already credited."""

    key: int  # the shipment line id
    shipped_on: date
    quantity: int
    credited: int
    unit_price: Decimal
    invoice_reference: str | None = None

    @property
    def open(self) -> int:
        return max(self.quantity - self.credited, 0)


@dataclass(frozen=True)
class PricedPart:
    key: int
    shipped_on: date
    quantity: int
    unit_price: Decimal
    amount: Decimal
    invoice_reference: str | None


def price_from_shipments(quantity: int, shipped: Sequence[ShippedUnits]) -> tuple[list[PricedPart], int]:
    """Price ``quantity`` returned units at the shipments' invoice prices, latest shipments first (then the higher
    shipment line id). Returns the parts and the units no shipment is left to price (credited nothing)."""
    if quantity < 0:
        raise ValueError("quantity must not be negative")
    parts, rest = [], quantity
    for s in sorted(shipped, key=lambda s: (s.shipped_on, s.key), reverse=True):
        if rest == 0:
            break
        take = min(rest, s.open)
        if take > 0:
            parts.append(PricedPart(s.key, s.shipped_on, take, Decimal(s.unit_price),
                                    money(Decimal(s.unit_price) * take), s.invoice_reference))
            rest -= take
    return parts, rest


def restocking_fee(amount: Decimal, pct: Decimal) -> Decimal:
    """``pct`` percent of ``amount``, rounded half up to the cent (never more than the amount)."""
    return min(money(Decimal(amount) * Decimal(pct) / 100), money(amount))


# -- attachments --------------------------------------------------------------------------------------------------
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
MAX_ATTACHMENTS = 10
_SIGNATURES = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"%PDF-", "application/pdf", ".pdf"),
)


def sniff(data: bytes) -> str | None:
    """The content type the bytes really are (JPEG, PNG, WebP, PDF), or None for anything else."""
    for magic, content_type, _ext in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def check_attachment(filename: str, data: bytes, max_bytes: int = MAX_ATTACHMENT_BYTES) -> Problem | None:
    """Why an upload is refused (empty, too large, not a photo or PDF), or None."""
    if not data:
        return Problem("attachment_empty", {"name": filename})
    if len(data) > max_bytes:
        return Problem("attachment_too_large", {"name": filename, "mb": max_bytes // (1024 * 1024)})
    if sniff(data) is None:
        return Problem("attachment_type", {"name": filename})
    return None


def safe_filename(filename: str, content_type: str) -> str:
    """A display name without path parts or control characters, ending in the sniffed type's extension."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>|:*?').strip() or "attachment"
    ext = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf", "image/webp": ".webp"}[content_type]
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return f"{stem[:150]}{ext}"
