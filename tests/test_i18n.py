"""Every message and metric in every language kpibot speaks, and an Indonesian member's cards in Indonesian."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from string import Formatter

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from bot.dispatch import Dispatcher, Incoming
from cards.alert_cards import nudge_card
from cards.format import metric_value
from cards.i18n import LANGS, MESSAGES, lang_of, t
from cards.i18n_id import INDONESIAN
from cards.model import Buttons, Card, Note, Progress, Table
from commands.periods import PERIOD_WORDS
from scoring.metrics import CATALOG, Unit, lookup_metric
from scoring.periods import PeriodKind
from scoring.score import MetricResult
from storage.member_import import ImportProblem, import_members
from storage.queries import member_by_code
from tests.card_reading import fields
from tests.conftest import dispatcher_for


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name is not None}


# --- the catalog is complete ------------------------------------------------------------------------------------

def test_the_languages() -> None:
    assert LANGS == ("en", "zh", "id")


def test_every_message_is_in_every_language_with_the_same_placeholders() -> None:
    missing = sorted(f"{key}: {lang}" for key, texts in MESSAGES.items() for lang in LANGS
                     if not texts.get(lang, "").strip())
    assert missing == []
    differing = sorted(key for key, texts in MESSAGES.items()
                       if len({frozenset(placeholders(texts[lang])) for lang in LANGS}) != 1)
    assert differing == []


def test_no_indonesian_text_is_left_without_its_key() -> None:
    # a key renamed in the catalog but not in cards/i18n_id.py would otherwise be dropped silently
    assert sorted(set(INDONESIAN) - set(MESSAGES)) == []


def test_every_metric_has_a_name_in_every_language_that_finds_only_it() -> None:
    assert sorted(f"{m.key}: {lang}" for m in CATALOG.values() for lang in LANGS
                  if not m.names.get(lang, "").strip()) == []
    for m in CATALOG.values():
        for lang in LANGS:
            assert lookup_metric(m.names[lang]) is m, (m.key, lang)
            assert m.name(lang) == m.names[lang]


@pytest.mark.parametrize(("locale", "lang"), [
    ("id", "id"), ("id-ID", "id"), ("id_ID", "id"), ("ID", "id"), ("zh-CN", "zh"), ("en-US", "en"),
    ("fr-FR", "en"), ("", "en"), (None, "en"),
])
def test_lang_of(locale: str | None, lang: str) -> None:
    assert lang_of(locale) == lang


def test_numbers_in_indonesian() -> None:
    # digits keep the international separators on every language's cards (money is shown the same to all)
    assert metric_value(Decimal("125"), Unit.SECONDS, "IDR", "id") == "2 mnt 05 dtk"
    assert metric_value(Decimal("12.34"), Unit.DAYS, "IDR", "id") == "12.3 hari"
    # ISO 4217 gives IDR two places
    assert metric_value(Decimal("1234567.5"), Unit.MONEY, "IDR", "id") == "1,234,567.50 IDR"
    assert metric_value(Decimal("1234.5"), Unit.MONEY, "USD", "id") == "1,234.50 USD"
    assert metric_value(Decimal("0.125"), Unit.RATIO, "USD", "id") == "12.5%"
    assert t("id", "mykpi.rank_value", pos=2, total=6) == "2 dari 6"


def test_an_indonesian_lag_alert() -> None:
    result = MetricResult(CATALOG["net_gmv"], Decimal(40), actual=Decimal("30000000"), target=Decimal("90000000"),
                          expected=Decimal("60000000"), achievement=Decimal("0.3333"), scored=None)
    card = nudge_card(lang="id", name="Siti", result=result, days_left=8, currency="IDR")
    assert card.title == "Siti, laju GMV bersih Anda tertinggal"
    assert fields(card) == {
        "Realisasi bulan ini": "30,000,000.00 IDR / 90,000,000.00 IDR (33%)",
        "Laju": "50% dari laju · tertinggal",
        "Dibutuhkan per hari (8 hari tersisa)": "7,500,000.00 IDR",
    }
    assert [b.label for blk in card.blocks if isinstance(blk, Buttons) for b in blk.buttons] == ["KPI saya"]


def test_indonesian_period_words() -> None:
    assert {w: PERIOD_WORDS[w] for w in ("hari", "minggu", "bulan", "kemarin")} == {
        "hari": PeriodKind.DAY, "minggu": PeriodKind.WEEK, "bulan": PeriodKind.MONTH,
        "kemarin": PeriodKind.YESTERDAY}


# --- an Indonesian member, set by the members import ------------------------------------------------------------

def say(d: Dispatcher, user: str, text: str) -> Card:
    card = d.handle_message(Incoming("console", user, text))
    assert card is not None
    return card


@pytest.fixture
def indonesian_host1(demo_copy: Engine, tmp_path: Path) -> Dispatcher:
    path = tmp_path / "members.csv"
    path.write_text("member,locale\nhost1,id-ID\n", encoding="utf-8")
    with Session(demo_copy) as s:
        result = import_members(s, path, "Asia/Shanghai", "en", "Demo")
        s.commit()
        host1 = member_by_code(s, "host1")
        assert (result.created, result.updated, host1.locale if host1 else None) == (0, 1, "id-ID")
    return dispatcher_for(demo_copy)


def test_an_indonesian_hosts_mykpi(indonesian_host1: Dispatcher) -> None:
    card = say(indonesian_host1, "host1", "/mykpi")
    assert card.title == "Lin Xiaoyu 林小雨 · KPI Bulan ini"
    assert card.lang == "id"
    f = fields(card)
    assert {"Bulan ini (kumulatif) · GMV bersih", "Skor", "Grade", "Peringkat di tim"} <= set(f)
    assert f["Peringkat di tim"].endswith(" dari 6")
    assert [b.label for b in card.blocks if isinstance(b, Progress)] == [
        "GMV bersih (40%)", "GMV per sesi live (20%)", "Rata-rata durasi tonton (15%)", "Tingkat interaksi (15%)",
        "Tingkat refund (10%)"]
    assert card.images()[0].alt == "Lin Xiaoyu 林小雨 · GMV bersih 2026-11"
    buttons = next(b for b in card.blocks if isinstance(b, Buttons)).buttons
    assert [b.label for b in buttons] == ["Hari ini", "Minggu", "Bulan", "Perbarui", "Kenapa"]
    assert say(indonesian_host1, "host1", "/mykpi minggu").title == "Lin Xiaoyu 林小雨 · KPI Minggu ini"
    assert say(indonesian_host1, "host1", "/mykpi hari").title == "Lin Xiaoyu 林小雨 · KPI Hari ini"
    # the others keep their own language
    assert say(indonesian_host1, "host2", "/mykpi").title == "Wang Fang 王芳 · 本月KPI"


def test_an_indonesian_hosts_help(indonesian_host1: Dispatcher) -> None:
    card = say(indonesian_host1, "host1", "/help")
    assert card.title == "Perintah kpibot"
    table = next(b for b in card.blocks if isinstance(b, Table))
    assert table.headers == ("Perintah", "Alias", "Fungsi")
    assert table.rows[0] == ("/mykpi [day|week|month]", "/kpisaya", "angka, skor, dan peringkat Anda")
    assert [r[1] for r in table.rows] == ["/kpisaya", "/peringkat", "", "/komisi", "/tautan", "/panduan", "/siapasaya",
                                        "/mulaisiaran, /selesaisiaran", "/banding", "/daftarbanding", "/bantuan"]
    assert [b.text for b in card.blocks if isinstance(b, Note)] == [
        "Tambahkan hari, minggu, atau bulan: /kpisaya minggu. Perintah bahasa Inggris juga bisa: /mykpi week"]
    # the Indonesian names answer like the English ones
    assert say(indonesian_host1, "host1", "/bantuan") == card
    assert say(indonesian_host1, "host1", "/kpisaya minggu") == say(indonesian_host1, "host1", "/mykpi week")
    # an English reader's /help still shows the Chinese aliases
    english = next(b for b in say(indonesian_host1, "host3", "/help").blocks if isinstance(b, Table))
    assert (english.headers[1], english.rows[0][1]) == ("Also", "/我的KPI")


def test_an_indonesian_hosts_mistakes(indonesian_host1: Dispatcher) -> None:
    assert say(indonesian_host1, "host1", "/team").blocks[0].text == \
        "/team hanya untuk team leader ke atas; peran Anda host."  # type: ignore[union-attr]
    assert say(indonesian_host1, "host1", "/mykpii").blocks[0].text == \
        "Saya tidak mengenal /mykpii. Maksud Anda /mykpi? Ketik /help untuk melihat perintah yang tersedia."  # type: ignore[union-attr]


def test_indonesian_roles_are_named_as_indonesian_teams_name_them(indonesian_host1: Dispatcher) -> None:
    assert {r: t("id", f"role.{r}") for r in ("host", "ad_buyer", "operator", "selector", "lead", "manager",
                                               "admin")} == {
        "host": "host", "ad_buyer": "ads specialist", "operator": "admin toko", "selector": "kurator produk",
        "lead": "team leader", "manager": "manajer", "admin": "admin sistem"}
    # the field word finds the role
    assert say(indonesian_host1, "host1", "/panduan admin toko").title == "SOP · admin toko"
    # every playbook's title names its role as Indonesian teams do: "host" is their word for a host
    assert [say(indonesian_host1, "host1", f"/panduan {r}").title
            for r in ("", "ad_buyer", "operator", "selector", "lead")] == [
        "SOP · host", "SOP · ads specialist", "SOP · admin toko", "SOP · kurator produk", "SOP · team leader"]


def test_an_organisation_in_indonesian_answers_strangers_in_indonesian(demo_copy: Engine) -> None:
    card = say(dispatcher_for(demo_copy, locale="id-ID"), "nobody", "/whoami")
    assert card.title == "Akun Anda belum terhubung ke kpibot"


def test_the_members_import_refuses_a_language_kpibot_does_not_speak(demo_copy: Engine, tmp_path: Path) -> None:
    path = tmp_path / "members.csv"
    path.write_text("member,locale\nhost1,fr-FR\n", encoding="utf-8")
    with Session(demo_copy) as s, pytest.raises(ImportProblem) as caught:
        import_members(s, path, "Asia/Shanghai", "en", "Demo")
    assert str(caught.value) == "line 2: locale must be en, zh-CN or id-ID, got 'fr-FR'"
