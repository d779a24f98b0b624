"""Text people type, made fit to store and to print: the one way every set-up path (kpibot org, teams, members,
shops; members import) cleans a name, a code, a handle or a country, and the one way a reply cuts what it echoes.

A control character (Unicode category C*: ESC, BEL, zero-width spaces, bidi marks ...) in a stored name would be
printed by every later `teams list` or card: names lose them, while codes (member, team and shop ids), handles and
countries refuse them, since an id people type must be exactly what they meant (dropped silently, `bad<ESC>code`
became `badcode`).
"""

from __future__ import annotations

import unicodedata
from functools import cache

NAME_MAX = 200     # storage.models: Organisation.name, Team.name, Member.name, Shop.name
CODE_MAX = 64      # storage.models: Team.code, Member.code, Shop.code
HANDLE_MAX = 128   # storage.models: MemberHandle.handle
SHOWN_MAX = 40     # what a problem line echoes of a typed value


class BadText(ValueError):
    """Why a typed value cannot be stored, short ("is empty"); the caller says which value."""


class ControlCharacter(BadText):
    """The value holds a control character (refused in codes, handles and countries)."""

    def __init__(self) -> None:
        super().__init__("has a control character")


def _control(ch: str) -> bool:
    return unicodedata.category(ch).startswith("C")


def display_name(text: str, limit: int = NAME_MAX) -> str:
    """`text` as a stored name: control characters removed, any run of whitespace one space, no outer spaces.
    Refused (BadText) when nothing is left or more than `limit` characters are."""
    name = " ".join("".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or not _control(ch)).split())
    if not name:
        raise BadText("is empty")
    if len(name) > limit:
        raise BadText(f"has {len(name)} characters, at most {limit}")
    return name


def code_text(text: str, limit: int = CODE_MAX) -> str:
    """`text` as a stored code (an id people type: host1, live-us): a display name without spaces, refused
    (ControlCharacter) when it holds a control character, as a handle is."""
    _refuse_controls(text.strip())
    code = display_name(text, limit)
    if " " in code:
        raise BadText("has a space")
    return code


def exact_text(text: str, limit: int = HANDLE_MAX) -> str:
    """`text` without outer spaces, refused when it holds a control character or more than `limit` characters:
    a value that must match another system's exactly (a platform handle) is never changed but refused."""
    value = text.strip()
    _refuse_controls(value)
    if not value:
        raise BadText("is empty")
    if len(value) > limit:
        raise BadText(f"has {len(value)} characters, at most {limit}")
    return value


def _refuse_controls(text: str) -> None:
    if any(_control(ch) for ch in text):
        raise ControlCharacter


def shown(text: str, size: int = SHOWN_MAX) -> str:
    """`text` as a reply echoes it: control characters dropped, at most `size` characters (the last one "…" when
    cut), so a reply never repeats long input or controls."""
    clean = "".join(ch for ch in text if not _control(ch))
    return clean if len(clean) <= size else clean[:size - 1] + "…"


def country_code(text: str) -> str:
    """An ISO 3166-1 alpha-2 country code (US, GB, ID), upper-cased; refused (BadText) when the standard has no
    such country (XX, UK: the United Kingdom is GB) or when it holds a control character (G<ESC>B would be
    shown as 'GB' and called no country)."""
    code = text.strip().upper()
    _refuse_controls(code)
    if len(code) != 2 or not code.isascii() or not code.isalpha() or code not in _countries():
        raise BadText("is not an ISO 3166-1 alpha-2 country code (two letters: US, GB, ID)")
    return code


@cache
def _countries() -> frozenset[str]:
    """The alpha-2 codes of the ``pycountry`` package's ISO 3166-1 table, read once (only the first look pays)."""
    import pycountry  # loads its JSON table on first use

    return frozenset(c.alpha_2 for c in pycountry.countries)
