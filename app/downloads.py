"""File responses shared by every page that offers a download."""

from __future__ import annotations

import io

from flask import send_file

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(data: bytes, filename: str):
    """An .xlsx attachment named ``filename``."""
    return send_file(io.BytesIO(data), as_attachment=True, download_name=filename, mimetype=XLSX_MIMETYPE)
