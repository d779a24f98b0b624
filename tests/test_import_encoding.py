"""`--encoding ENC` on every file import but the shop exports' (tests/test_file_import covers `kpibot import`):
members, targets, products, the live roster and fx rates, each through the CLI on an empty store set up with
kpibot's own commands. A cp1252 file (Excel's "CSV" on a Western Windows) is neither UTF-8 nor GB18030: refused
without the flag, read with it; an encoding Python does not know is refused by name."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from storage import tabular
from storage.models import FxRateRow, LiveRoster, Member, Product, Target
from tests.test_cli_shops import Cli, cli  # noqa: F401  (the fixture)

# Each cp1252 é / no-break space is followed by a comma or a line end, so no byte pair reads as GB18030 either.
FILES = {
    "members": "member,name,role\nhost9,José,host\n",
    "targets": "period,member,metric,value\n2026-12,josé,gmv,1000\n",
    "products": "shop,product,sku,name,unit_cost\nus1,p1,s1,Café José,3.50\n",
    "roster": "shop,member,start,end\nus1,josé,2026-11-20T20:00,2026-11-20T22:00\n",
    "fx": "day,base,quote,rate\n2026-11-20,EUR,USD,1.0850\xa0\n",   # fx has no text column: a no-break space
}
COMMANDS = {
    "members": ("members", "import"),
    "targets": ("targets", "import"),
    "products": ("products", "import"),
    "roster": ("lives", "roster", "import"),
    "fx": ("fx", "import"),
}
NOT_TOLD = ("is not UTF-8 text and its encoding cannot be told; save it as 'CSV UTF-8', or pass its encoding with "
            "--encoding (e.g. --encoding cp1252 for Western Excel, --encoding gb18030 for Chinese: it reads GBK too)")
REFUSED = {"fx": "nothing stored"}    # the others: "nothing imported"
DONE = {
    "members": "imported {}: 1 new, 0 updated\n",
    "targets": "imported {}: 1 targets, 0 country baselines\n",
    "products": "imported {}: 1 new products, 0 updated, 1 new SKUs; no stock\n",
    "roster": "roster {}: imported; 0 sessions got their host, 0 orders credited by live session, 0 by the roster\n",
    "fx": "imported {}: 1 rates (1 new, 0 changed, 0 unchanged)\n",
}


def _stored(engine: Engine, what: str) -> object:
    with Session(engine) as s:
        if what == "members":
            return s.exec(select(Member.name).where(Member.code == "host9")).one()
        jose = s.exec(select(Member.id).where(Member.code == "josé")).first()
        if what == "targets":
            return s.exec(select(Target.subject, Target.period, Target.metric_key, Target.value)).all()
        if what == "products":
            return s.exec(select(Product.platform_product_id, Product.name)).all()
        if what == "roster":
            return [(r.member_id == jose, r.started_at, r.ended_at) for r in s.exec(select(LiveRoster))]
        return s.exec(select(FxRateRow.base, FxRateRow.quote, FxRateRow.rate)).all()


EXPECTED: dict[str, Callable[[Engine], object]] = {
    "members": lambda e: "José",
    "targets": lambda e: [(f"member:{_jose_id(e)}", "2026-12", "gmv", D("1000.00"))],
    "products": lambda e: [("p1", "Café José")],
    "roster": lambda e: [(True, datetime(2026, 11, 21, 4, tzinfo=UTC), datetime(2026, 11, 21, 6, tzinfo=UTC))],
    "fx": lambda e: [("EUR", "USD", D("1.0850"))],
}


def _jose_id(engine: Engine) -> int:
    with Session(engine) as s:
        return s.exec(select(Member.id).where(Member.code == "josé")).one() or 0


@pytest.mark.parametrize("what", list(COMMANDS))
def test_every_file_import_takes_encoding(what: str, cli: Cli, engine: Engine,  # noqa: F811
                                          tmp_path: Path) -> None:
    """Setup in UTF-8 (a team, a shop in Los Angeles, the member josé), then the cp1252 file three ways."""
    assert cli("org", "init", "--name", "Acme", "--currency", "USD", "--timezone", "UTC")[0] == 0
    assert cli("shops", "add", "us1", "--platform", "tiktok_shop", "--region", "US", "--currency", "USD",
               "--timezone", "America/Los_Angeles")[0] == 0
    people = tmp_path / "people.csv"
    people.write_text("member,name,role\njosé,José García,host\n", encoding="utf-8")
    assert cli("members", "import", str(people))[0] == 0
    path = tmp_path / f"{what}.csv"
    path.write_bytes(FILES[what].encode("cp1252"))
    before = REFUSED.get(what, "nothing imported")

    assert cli(*COMMANDS[what], str(path)) == (
        2, "", f"kpibot: {before}: {what}.csv {NOT_TOLD}\n")
    assert cli(*COMMANDS[what], str(path), "--encoding", "latin-9x") == (
        2, "", f"kpibot: {before}: unknown encoding 'latin-9x' (e.g. utf-8, gbk, gb18030, utf-16, cp1252)\n")
    assert cli(*COMMANDS[what], str(path), "--encoding", "cp1252") == (0, DONE[what].format(path), "")
    assert _stored(engine, what) == EXPECTED[what](engine)


def _setup(cli: Cli) -> None:  # noqa: F811
    assert cli("org", "init", "--name", "Acme", "--currency", "USD", "--timezone", "UTC")[0] == 0


def _names(engine: Engine) -> list[tuple[str, str]]:
    with Session(engine) as s:
        return [(m.code, m.name) for m in s.exec(select(Member).order_by(Member.code))]


def test_a_western_csv_whose_accents_each_precede_a_letter_is_refused_not_garbled(
        cli: Cli, engine: Engine, tmp_path: Path) -> None:  # noqa: F811
    """'Jürgen Müller' in cp1252 decodes as valid GB18030 ('J黵gen M黮ler'): detection asks for GB2312-range pairs
    only, so it is refused with the --encoding advice, and read exactly with --encoding cp1252."""
    _setup(cli)
    path = tmp_path / "people.csv"
    path.write_bytes("member,name,role\njuergen,Jürgen Müller,host\n".encode("cp1252"))
    assert path.read_bytes().decode("gb18030").split("\n")[1] == "juergen,J黵gen M黮ler,host"   # the trap
    assert cli("members", "import", str(path)) == (2, "", f"kpibot: nothing imported: people.csv {NOT_TOLD}\n")
    assert _names(engine) == []
    assert cli("members", "import", str(path), "--encoding", "cp1252") == (
        0, f"imported {path}: 1 new, 0 updated\n", "")      # given, not detected: no "read as"
    assert _names(engine) == [("juergen", "Jürgen Müller")]


def test_a_gbk_file_of_chinese_names_is_detected_and_its_summary_says_so(
        cli: Cli, engine: Engine, tmp_path: Path) -> None:  # noqa: F811
    _setup(cli)
    path = tmp_path / "people.csv"
    path.write_bytes("member,name,role\nlin,林小雨,host\nwang,王芳（主播）,host\n".encode("gbk"))
    assert cli("members", "import", str(path)) == (
        0, f"imported {path}: 2 new, 0 updated; read as GB18030\n", "")
    assert _names(engine) == [("lin", "林小雨"), ("wang", "王芳（主播）")]


def test_a_gbk_name_outside_gb2312_is_detected(cli: Cli, engine: Engine, tmp_path: Path) -> None:  # noqa: F811
    """喆 is GBK but not GB2312: in a roster of ordinary names it is 1 of 15 multi-byte characters (93 % in the
    GB2312 range), so the file is read as GB18030."""
    _setup(cli)
    path = tmp_path / "people.csv"
    path.write_bytes("member,name,role\nwang,王喆,host\nlin,林小雨（主播）,host\nzhou,周杰伦,host\nchen,陈美玲,host\n"
                     .encode("gbk"))
    assert cli("members", "import", str(path)) == (
        0, f"imported {path}: 4 new, 0 updated; read as GB18030\n", "")
    assert _names(engine) == [("chen", "陈美玲"), ("lin", "林小雨（主播）"), ("wang", "王喆"), ("zhou", "周杰伦")]


def test_a_gb18030_file_with_a_four_byte_character_is_detected(
        cli: Cli, engine: Engine, tmp_path: Path) -> None:  # noqa: F811
    """𠮷 has no GBK code: GB18030 writes it in four bytes, which count as outside the GB2312 range but do not
    refuse a file that is otherwise Chinese."""
    _setup(cli)
    path = tmp_path / "people.csv"
    path.write_bytes("member,name,role\nji,𠮷野家店长,host\nlin,林小雨,host\nzhou,周杰伦,host\n".encode("gb18030"))
    assert len("𠮷".encode("gb18030")) == 4
    assert cli("members", "import", str(path)) == (
        0, f"imported {path}: 3 new, 0 updated; read as GB18030\n", "")
    assert _names(engine) == [("ji", "𠮷野家店长"), ("lin", "林小雨"), ("zhou", "周杰伦")]


def test_a_big5_file_is_refused_not_read_as_gbk(cli: Cli, engine: Engine, tmp_path: Path) -> None:  # noqa: F811
    """Big5 bytes decode as GB18030 (陳美玲 -> 朝 and two private-use characters), but 5 of these 11 common
    Traditional characters have a trail byte under 0xA1: 55 % in the GB2312 range, under 90 %, so refused with the
    advice."""
    _setup(cli)
    path = tmp_path / "people.csv"
    path.write_bytes("member,name,role\nzhang,台北市信義區 張偉,host\nchen,陳美玲,host\n".encode("big5"))
    assert path.read_bytes().decode("gb18030").split("\n")[2] == "chen,朝\ue117\ue0dd,host"   # the trap
    assert cli("members", "import", str(path)) == (2, "", f"kpibot: nothing imported: people.csv {NOT_TOLD}\n")
    assert _names(engine) == []


def test_gbk_detection_holds_a_pair_split_between_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 3-byte chunk splits every other GBK pair and a four-byte character; a lone lead byte at the end of the file
    still refuses."""
    monkeypatch.setattr(tabular, "CHUNK", 3)
    path = tmp_path / "t.csv"
    path.write_bytes("a,林小雨\n".encode("gbk"))
    assert tabular.detect_encoding(path) == "gb18030"
    path.write_bytes("a,林小雨\n".encode("gbk")[:-2])      # ends on 雨's lead byte
    with pytest.raises(tabular.TableProblem):
        tabular.detect_encoding(path)
    path.write_bytes(b"a,\xd6\x41\n")                          # a lead byte, then ASCII: not GB2312 text
    with pytest.raises(tabular.TableProblem):
        tabular.detect_encoding(path)
    path.write_bytes("a,𠮷林小雨周杰伦陈美玲\n".encode("gb18030"))   # 9 of 10 in range (90 %); 𠮷's 4 bytes split 1 + 3
    assert tabular.detect_encoding(path) == "gb18030"
    path.write_bytes("a,𠮷林小雨周杰伦陈美玲\n".encode("gb18030")[:-2])   # ends inside 玲
    with pytest.raises(tabular.TableProblem):
        tabular.detect_encoding(path)


def test_encoding_utf8_reads_excels_csv_utf8_without_its_bom_in_the_first_header(
        cli: Cli, engine: Engine, tmp_path: Path) -> None:  # noqa: F811
    """Excel's "CSV UTF-8" starts with a BOM: --encoding utf-8 (or utf8) reads it as utf-8-sig, and a BOM an
    explicit encoding leaves (utf-16-le of a UTF-16 file with its BOM) is dropped from the first cell too."""
    _setup(cli)
    path = tmp_path / "people.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "member,name,role\nlin,林小雨,host\n".encode())
    assert [cli("members", "import", str(path), "--encoding", given) for given in ("utf-8", "UTF8")] == [
        (0, f"imported {path}: 1 new, 0 updated\n", ""), (0, f"imported {path}: 0 new, 1 updated\n", "")]
    wide = tmp_path / "wide.csv"
    wide.write_bytes(b"\xff\xfe" + "member,name,role\nwang,王芳,host\n".encode("utf-16-le"))
    assert tabular.read_rows(wide, "utf-16-le")[0] == (1, ["member", "name", "role"])
    assert cli("members", "import", str(wide), "--encoding", "utf-16-le") == (
        0, f"imported {wide}: 1 new, 0 updated\n", "")
    assert _names(engine) == [("lin", "林小雨"), ("wang", "王芳")]
