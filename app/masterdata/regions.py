"""Load GB/T 2260 regions from CSV files in the format of the NBS / modood data set.

``provinces.csv`` (code, name), ``cities.csv`` (code, name, provinceCode), ``areas.csv`` (code, name, cityCode,
provinceCode), with 2-, 4- and 6-digit codes. Stored with 6-digit codes (11 → 110000, 1101 → 110100).
Municipalities' 市辖区 / 县 city rows get a readable name (北京市, 重庆市(县)); 省直辖县级 pseudo-cities are flagged
and their counties act as cities for city-level analytics (``city_unit_id``). Re-running updates names in place.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import select

from app.extensions import db
from app.models import Region

PSEUDO_CITY_NAMES = ("省直辖县级行政区划", "自治区直辖县级行政区划")


class RegionImportError(ValueError):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]))
        self.errors = errors


@dataclass
class RegionImportResult:
    created: int = 0
    updated: int = 0
    by_level: dict = field(default_factory=dict)


def _six(code: str) -> str:
    return code.ljust(6, "0")


def _read(path: Path, required: tuple[str, ...], errors: list[str]) -> list[dict]:
    if not path.exists():
        errors.append(_("File %(f)s is missing.", f=path.name))
        return []
    raw = path.read_bytes()
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
            break
        except UnicodeDecodeError:
            continue
    else:
        errors.append(_("%(f)s is neither UTF-8 nor GB18030 text.", f=path.name))
        return []
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        errors.append(_("%(f)s lacks the columns %(cols)s.", f=path.name, cols=", ".join(missing)))
        return []
    rows = []
    for i, row in enumerate(reader, start=2):
        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        if not code.isdigit() or not name:
            errors.append(_("%(f)s row %(r)d: a numeric code and a name are required.", f=path.name, r=i))
            continue
        row = {k: (v or "").strip() for k, v in row.items()}
        row["_line"] = i
        rows.append(row)
    return rows


def import_regions(directory: str | Path) -> RegionImportResult:
    """Create or update all regions from the three CSV files in ``directory``. All or nothing; raises
    RegionImportError listing every problem."""
    directory = Path(directory)
    errors: list[str] = []
    provinces = _read(directory / "provinces.csv", ("code", "name"), errors)
    cities = _read(directory / "cities.csv", ("code", "name", "provinceCode"), errors)
    areas = _read(directory / "areas.csv", ("code", "name", "cityCode", "provinceCode"), errors)
    if errors:
        raise RegionImportError(errors)
    for label, rows, width in (("provinces.csv", provinces, 2), ("cities.csv", cities, 4), ("areas.csv", areas, 6)):
        for row in rows:
            if len(row["code"]) != width:
                errors.append(_("%(f)s row %(r)d: code %(c)s should have %(w)d digits.", f=label, r=row["_line"],
                                c=row["code"], w=width))
    prov_codes = {r["code"] for r in provinces}
    city_codes = {r["code"] for r in cities}
    for r in cities:
        if r["provinceCode"] not in prov_codes:
            errors.append(_("cities.csv row %(r)d: unknown province %(c)s.", r=r["_line"], c=r["provinceCode"]))
    for r in areas:
        if r["cityCode"] not in city_codes:
            errors.append(_("areas.csv row %(r)d: unknown city %(c)s.", r=r["_line"], c=r["cityCode"]))
    if errors:
        raise RegionImportError(errors)

    existing = {r.code: r for r in db.session.execute(select(Region)).scalars()}
    result = RegionImportResult()

    def upsert(code: str, name: str, official: str, level: int, parent: Region | None, pseudo=False) -> Region:
        region = existing.get(code)
        if region is None:
            region = Region(code=code)
            db.session.add(region)
            existing[code] = region
            result.created += 1
        elif (region.name, region.official_name, region.parent, region.is_pseudo_city) != (
            name, official, parent, pseudo
        ):
            result.updated += 1
        region.name, region.official_name, region.level, region.parent = name, official, level, parent
        region.is_pseudo_city = pseudo
        result.by_level[level] = result.by_level.get(level, 0) + 1
        return region

    prov_by_code = {}
    for r in provinces:
        prov_by_code[r["code"]] = upsert(_six(r["code"]), r["name"], r["name"], 1, None)
    city_by_code = {}
    for r in cities:
        prov = prov_by_code[r["provinceCode"]]
        name = r["name"]
        pseudo = name in PSEUDO_CITY_NAMES
        display = name
        if name == "市辖区":
            display = prov.name
        elif name == "县" and prov.name.endswith("市"):
            display = f"{prov.name}(县)"
        city_by_code[r["code"]] = upsert(_six(r["code"]), display, name, 2, prov, pseudo)
    for r in areas:
        city = city_by_code[r["cityCode"]]
        if r["code"] == city.code:
            continue  # 东莞, 中山, 儋州, 嘉峪关: a city with no counties is listed again as its own county
        upsert(r["code"], r["name"], r["name"], 3, city)
    db.session.flush()
    # denormalised helpers for rollups: the province and the city-level unit of each region
    for region in existing.values():
        if region.level == 1:
            region.province_id, region.city_unit_id = region.id, None
        elif region.level == 2:
            region.province_id, region.city_unit_id = region.parent.id, region.id
        else:
            city = region.parent
            region.province_id = city.parent.id
            region.city_unit_id = region.id if city.is_pseudo_city else city.id
    db.session.flush()
    return result
