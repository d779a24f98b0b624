"""The languages kpibot speaks, and how a locale ("zh-CN", "id_ID") names one.

Here rather than in cards/ because the metric catalog (scoring) names metrics per language and the store
(storage) checks imported locales: both sit below cards/ and must agree with it on the list.
"""

from __future__ import annotations

LANGS = ("en", "zh", "id")

LOCALE_HINT = "en, zh-CN or id-ID"


def base_language(locale: str) -> str:
    """'zh-CN' -> 'zh', 'id_ID' -> 'id' (not checked)."""
    return locale.split("-")[0].split("_")[0].lower()


def supported_locale(locale: str) -> bool:
    return base_language(locale) in LANGS


def lang_of(locale: str | None) -> str:
    """'zh-CN' -> 'zh'; anything unknown -> 'en'."""
    base = base_language(locale or "en")
    return base if base in LANGS else "en"
