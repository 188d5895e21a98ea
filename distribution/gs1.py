"""GS1 DataMatrix on drug packs: the element strings a scanner sends (GTIN (01), lot (10), expiry (17), serial
(21)), parsed with biip (a maintained GS1 parser). Pure: a string in, plain values out, no Flask, no session.

Accepted forms: the raw scan with FNC1 sent as the GS character (``\\x1d``), with or without a symbology identifier
(``]d2``), with no separator when the variable-length fields come last; and the human-readable form with
parentheses, ``(01)06937215000010(17)270630(10)A2406(21)0001``. A bare 13- or 14-digit GTIN (a linear barcode) gives
the product only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import biip
from biip.gs1_messages import GS1Message


class ScanError(ValueError):
    """The scan is not a GS1 element string we can read; ``code`` names why (``unreadable``, ``check_digit``,
    ``no_gtin``)."""

    def __init__(self, code: str, detail: str = ""):
        super().__init__(detail or code)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Scan:
    gtin: str  # 14 digits
    lot_no: str | None = None
    expires_on: date | None = None
    serial: str | None = None


def gtin14(value: str) -> str:
    """A GTIN-8/12/13/14 as 14 digits (left-padded with zeros), the form (01) carries."""
    return value.strip().zfill(14)


def parse_scan(text: str) -> Scan:
    """Parse one scanned (or typed) code. Raises ScanError."""
    value = (text or "").strip().replace("\r", "").replace("\n", "")
    if not value:
        raise ScanError("unreadable")
    if value.isdigit() and len(value) in (8, 12, 13, 14):
        result = biip.parse(value)
        if result.gtin is None:
            raise ScanError("check_digit", result.gtin_error or "")
        return Scan(gtin14(result.gtin.value))
    try:
        message = GS1Message.parse_hri(value) if value.startswith("(") else GS1Message.parse(_strip_symbology(value))
    except biip.ParseError as exc:
        raise ScanError("unreadable", str(exc)) from exc
    fields = {e.ai.ai: e for e in message.element_strings}
    gtin = fields.get("01")
    if gtin is None:
        raise ScanError("no_gtin")
    if gtin.gtin is None:
        raise ScanError("check_digit", gtin.gtin_error or "")
    expiry = fields.get("17")
    return Scan(gtin=gtin14(gtin.gtin.value),
                lot_no=fields["10"].value if "10" in fields else None,
                expires_on=_expiry(expiry) if expiry is not None else None,
                serial=fields["21"].value if "21" in fields else None)


def _strip_symbology(value: str) -> str:
    return value[3:] if value[:3] in ("]d2", "]C1", "]Q3", "]e0") else value


def _expiry(element) -> date | None:
    """(17) YYMMDD; a day of 00 means the last day of that month (GS1 General Specifications 7.12), which biip
    already resolves."""
    return element.date
