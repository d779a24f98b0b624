"""A shop's API tokens kept in the store (the `TokenStore` a source is given).

`save` is one upsert in one committed transaction: either the whole new set of tokens is stored or the old
one stays, never a mix, which matters for platforms whose refresh token is single-use (Shopee). Tokens are
kept in clear in `shop_credential`, so the database and its backups must be protected like the tokens
themselves. Nothing here logs or repr()s a token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.engine import Engine

from storage.ingest.records import Tokens
from storage.models import ShopCredential
from storage.upsert import upsert

CREDENTIAL = cast(Table, ShopCredential.__table__)  # type: ignore[attr-defined]


class DbTokenStore:
    """The tokens of one shop."""

    def __init__(self, engine: Engine, shop_id: int) -> None:
        self.engine = engine
        self.shop_id = shop_id

    def __repr__(self) -> str:
        return f"DbTokenStore(shop_id={self.shop_id})"

    def load(self) -> Tokens | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(CREDENTIAL.c.access_token, CREDENTIAL.c.refresh_token, CREDENTIAL.c.expires_at,
                                      CREDENTIAL.c.refresh_expires_at, CREDENTIAL.c.extra)
                               .where(CREDENTIAL.c.shop_id == self.shop_id)).first()
        if row is None:
            return None
        return Tokens(row[0], row[1], row[2], row[3], dict(row[4] or {}))

    def save(self, tokens: Tokens) -> None:
        """Store `tokens` in place of the shop's current ones, atomically (committed on return)."""
        values = {"access_token": tokens.access_token, "refresh_token": tokens.refresh_token,
                  "expires_at": tokens.expires_at, "refresh_expires_at": tokens.refresh_expires_at,
                  "extra": {str(k): str(v) for k, v in tokens.extra.items()}, "updated_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            upsert(conn, CREDENTIAL, ("shop_id",), {"shop_id": self.shop_id, **values})

    def clear(self) -> None:
        """Forget the shop's tokens (a disconnected shop)."""
        with self.engine.begin() as conn:
            conn.execute(delete(CREDENTIAL).where(CREDENTIAL.c.shop_id == self.shop_id))
