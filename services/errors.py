"""The one error a person can fix by asking differently, raised by commands and services alike."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix; `key` names a message in cards.i18n, `values` fill it in."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(key)
        self.key, self.values = key, values
