"""A TokenStore kept in memory, for tests and benchmarks (production keeps tokens in the store: DbTokenStore).
Module-level, so a source built in a process of its own (storage.ingest.fetch_process) can take one along."""

from __future__ import annotations

from storage.ingest.records import Tokens


class MemoryTokens:
    """Holds one token set; `saves` lists every set saved, oldest first."""

    def __init__(self, tokens: Tokens | None) -> None:
        self.tokens = tokens
        self.saves: list[Tokens] = []

    def load(self) -> Tokens | None:
        return self.tokens

    def save(self, tokens: Tokens) -> None:
        self.tokens = tokens
        self.saves.append(tokens)
