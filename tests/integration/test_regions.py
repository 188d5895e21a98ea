"""GB/T 2260 regions: municipalities, 省直辖县级 units, cities without counties, bad files."""

import shutil

import pytest
from sqlalchemy import func, select

from app.masterdata.regions import RegionImportError, import_regions
from app.models import Region
from tests.conftest import REGIONS_DIR


def test_levels_and_counts(db_session):
    counts = dict(db_session.execute(select(Region.level, func.count()).group_by(Region.level)).all())
    assert counts[1] == 31 and counts[2] > 330 and counts[3] > 2800


def test_municipalities(region):
    dongcheng = region("110101")
    assert dongcheng.parent.code == "110100" and dongcheng.parent.name == "北京市"
    assert dongcheng.parent.official_name == "市辖区"
    assert dongcheng.full_name == "北京市东城区"
    assert dongcheng.province.code == "110000" and dongcheng.city_unit_id == dongcheng.parent.id
    chengkou = region("500229")  # 城口县 under 重庆市 县 (5002)
    assert chengkou.parent.code == "500200" and chengkou.parent.name == "重庆市(县)"
    assert chengkou.full_name == "重庆市城口县"
    assert region("310101").full_name.startswith("上海市")


def test_county_level_units_directly_under_a_province(region):
    jiyuan = region("419001")
    assert jiyuan.name == "济源市" and jiyuan.parent.is_pseudo_city
    assert jiyuan.province.code == "410000"
    assert jiyuan.city_unit_id == jiyuan.id  # acts as its own city in city-level rollups
    assert jiyuan.full_name == "河南省济源市"
    xiantao = region("429004")
    assert xiantao.city_unit_id == xiantao.id and xiantao.full_name == "湖北省仙桃市"
    assert region("659001").parent.is_pseudo_city  # 石河子市 (自治区直辖)


def test_cities_without_counties_are_not_their_own_children(region, db_session):
    dongguan = region("441900")
    assert dongguan.level == 2 and dongguan.name == "东莞市"
    assert db_session.execute(select(func.count()).select_from(Region).where(Region.parent_id == dongguan.id)) \
        .scalar_one() == 0


def test_reimport_changes_nothing(db_session):
    result = import_regions(REGIONS_DIR)
    assert (result.created, result.updated) == (0, 0)


@pytest.fixture
def region_dir(tmp_path):
    for name in ("provinces.csv", "cities.csv", "areas.csv"):
        shutil.copy(REGIONS_DIR / name, tmp_path / name)
    return tmp_path


def test_bad_files_are_refused_with_the_reason(db_session, region_dir):
    before = db_session.execute(select(func.count()).select_from(Region)).scalar_one()
    (region_dir / "areas.csv").write_text("code,name,cityCode,provinceCode\n110199,\"新区\",9999,11\n12,短,1201,12\n",
                                          encoding="utf-8")
    with pytest.raises(RegionImportError) as exc:
        import_regions(region_dir)
    text = " ".join(exc.value.errors)
    assert "9999" in text and " 12 " in text  # the unknown city and the short code, each with its row
    (region_dir / "cities.csv").write_text("code;name\n", encoding="utf-8")
    with pytest.raises(RegionImportError):
        import_regions(region_dir)
    (region_dir / "provinces.csv").unlink()
    with pytest.raises(RegionImportError, match="provinces.csv"):
        import_regions(region_dir)
    assert db_session.execute(select(func.count()).select_from(Region)).scalar_one() == before


def test_gbk_encoded_files_are_read(db_session, region_dir):
    for name in ("provinces.csv", "cities.csv", "areas.csv"):
        path = region_dir / name
        path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    result = import_regions(region_dir)
    assert result.created == 0 and result.by_level[1] == 31


def test_import_command(app, tmp_path):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["drp", "import-regions", str(tmp_path)])
    assert result.exit_code == 1 and "provinces.csv" in result.output
