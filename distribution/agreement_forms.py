"""The agreement draft form: what the user typed (kept as strings to re-render the form), turned into the same
shape the API takes (AgreementInSchema), and marshmallow's errors turned into messages per form field / row."""

from __future__ import annotations

import re

from app.masterdata.services import translate_validation_message

_SPLIT = re.compile(r"[\s,，;；、]+")
SCALARS = ("distributor_code", "start_date", "end_date", "payment_terms_days", "proposed_credit_limit", "deposit",
           "rebate_basis", "note")
LISTS = ("product_codes", "product_line_codes", "region_codes", "terminal_codes")


def form_values(form) -> dict:
    """What the user typed, as strings (to re-render the form), with blank target / tier rows dropped."""
    values = {k: (form.get(k) or "").strip() for k in (*SCALARS, *LISTS)}
    values["targets"] = [row for row in (
        {f: (form.get(f"targets-{i}-{f}") or "").strip() for f in ("quarter", "kind", "code", "amount", "quantity")}
        for i in range(_rows(form, "targets"))) if row["quarter"] or row["code"] or row["amount"] or row["quantity"]]
    values["rebate_tiers"] = [row for row in (
        {f: (form.get(f"rebate_tiers-{i}-{f}") or "").strip() for f in ("threshold_pct", "rate_pct")}
        for i in range(_rows(form, "rebate_tiers"))) if row["threshold_pct"] or row["rate_pct"]]
    return values


def _rows(form, prefix: str) -> int:
    indices = [int(m[1]) for k in form if (m := re.match(rf"^{prefix}-(\d+)-", k)) and int(m[1]) < 500]
    return max(indices, default=-1) + 1


def _number(text: str) -> str | None:
    return text.replace(",", "").replace("，", "").replace(" ", "") or None


def schema_input(values: dict) -> dict:
    """Form strings → the shape AgreementInSchema loads (the same as the API body)."""
    raw = {k: values[k] for k in SCALARS if values[k]}
    for k in ("proposed_credit_limit", "deposit"):
        if k in raw:
            raw[k] = _number(raw[k])
    raw.update({k: [c for c in _SPLIT.split(values[k]) if c] for k in LISTS})
    raw["targets"] = [{"quarter": t["quarter"], "amount": _number(t["amount"]), "quantity": _number(t["quantity"]),
                       ("product_line_code" if t["kind"] == "line" else "product_code"): t["code"] or None}
                      for t in values["targets"]]
    raw["rebate_tiers"] = [{"threshold_pct": _number(t["threshold_pct"]), "rate_pct": _number(t["rate_pct"])}
                           for t in values["rebate_tiers"]]
    return raw


def field_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested errors → {"field" or "targets.0": [messages]} (one key per form row)."""
    out: dict[str, list[str]] = {}
    for key, val in messages.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(val, dict):
            for k, msgs in field_errors(val, name).items():
                row = ".".join(k.split(".")[:2]) if k.split(".")[0] in ("targets", "rebate_tiers") else k
                out.setdefault(row, []).extend(msgs)
        else:
            out.setdefault(name, []).extend(translate_validation_message(str(m)) for m in val)
    return out


def values_of(a) -> dict:
    return {
        "distributor_code": a.distributor.code, "start_date": a.start_date.isoformat(),
        "end_date": a.end_date.isoformat(), "payment_terms_days": str(a.payment_terms_days),
        "proposed_credit_limit": str(a.proposed_credit_limit), "deposit": str(a.deposit),
        "rebate_basis": a.rebate_basis, "note": a.note or "",
        "product_codes": "\n".join(p.product.code for p in a.products),
        "product_line_codes": "\n".join(p.product_line.code for p in a.product_lines),
        "region_codes": "\n".join(r.region.code for r in a.regions),
        "terminal_codes": "\n".join(t.terminal.code for t in a.terminals if t.terminal is not None),
        "targets": [{"quarter": t.quarter_label, "kind": "line" if t.product_line_id else "product",
                     "code": t.product_line.code if t.product_line_id else t.product.code, "amount": str(t.amount),
                     "quantity": str(t.quantity)} for t in a.targets],
        "rebate_tiers": [{"threshold_pct": _plain(t.threshold_pct), "rate_pct": _plain(t.rate_pct)}
                         for t in a.rebate_tiers],
    }


def _plain(value) -> str:
    """90.00 → "90", 1.500 → "1.5" (never "9E+1")."""
    return f"{value.normalize():f}"

