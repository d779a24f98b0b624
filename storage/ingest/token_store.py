"""A shop's API tokens kept in the store (the `TokenStore` a source is given).

`save` is one upsert in one committed transaction: either the whole new set of tokens is stored or the old
one stays, never a mix, which matters for platforms whose refresh token is single-use (Shopee). The access and
refresh tokens are stored encrypted with KPIBOT_TOKEN_KEY (storage.token_cipher); without a key nothing is
saved. Nothing here logs or repr()s a token.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Engine

from storage.ingest.records import Tokens
from storage.models import Shop, ShopCredential
from storage.token_cipher import TokenCipher, TokenKeyError, decrypt_without_key, is_encrypted, missing_key
from storage.upsert import upsert

CREDENTIAL = cast(Table, ShopCredential.__table__)  # type: ignore[attr-defined]
SHOP = cast(Table, Shop.__table__)  # type: ignore[attr-defined]


class DbTokenStore:
    """The tokens of one shop. `cipher`: KPIBOT_TOKEN_KEY's when not given."""

    def __init__(self, engine: Engine, shop_id: int, cipher: TokenCipher | None = None) -> None:
        self.engine = engine
        self.shop_id = shop_id
        self.cipher = cipher or TokenCipher.from_environment()

    def __repr__(self) -> str:
        return f"DbTokenStore(shop_id={self.shop_id})"

    def _clear(self, stored: str) -> str:
        return self.cipher.decrypt(stored) if self.cipher is not None else decrypt_without_key(stored)

    def load(self) -> Tokens | None:
        """The shop's tokens, or None. TokenKeyError when they are encrypted and no key given decrypts them."""
        with self.engine.connect() as conn:
            row = conn.execute(select(CREDENTIAL.c.access_token, CREDENTIAL.c.refresh_token, CREDENTIAL.c.expires_at,
                                      CREDENTIAL.c.refresh_expires_at, CREDENTIAL.c.extra)
                               .where(CREDENTIAL.c.shop_id == self.shop_id)).first()
        if row is None:
            return None
        return Tokens(self._clear(row[0]), None if row[1] is None else self._clear(row[1]), row[2], row[3],
                      dict(row[4] or {}))

    def save(self, tokens: Tokens) -> None:
        """Store `tokens` in place of the shop's current ones, atomically (committed on return), encrypted.
        TokenKeyError, and nothing stored, without a key."""
        if self.cipher is None:
            raise missing_key()
        refresh = None if tokens.refresh_token is None else self.cipher.encrypt(tokens.refresh_token)
        values = {"access_token": self.cipher.encrypt(tokens.access_token), "refresh_token": refresh,
                  "expires_at": tokens.expires_at, "refresh_expires_at": tokens.refresh_expires_at,
                  "extra": {str(k): str(v) for k, v in tokens.extra.items()}, "updated_at": datetime.now(UTC)}
        with self.engine.begin() as conn:
            upsert(conn, CREDENTIAL, ("shop_id",), {"shop_id": self.shop_id, **values})

    def clear(self) -> None:
        """Forget the shop's tokens (a disconnected shop)."""
        with self.engine.begin() as conn:
            conn.execute(delete(CREDENTIAL).where(CREDENTIAL.c.shop_id == self.shop_id))


@dataclass(frozen=True)
class Rotation:
    rewritten: int        # shops whose tokens were encrypted again with the first key
    were_clear: int       # of them, shops whose tokens had been stored in clear
    unreadable: tuple[str, ...] = ()   # shops (codes) whose tokens no key decrypts: then nothing was rewritten


def rotate_tokens(engine: Engine, cipher: TokenCipher) -> Rotation:
    """Every shop's tokens encrypted again with `cipher`'s first key, in one transaction: all or nothing. When
    some shop's tokens no key decrypts, nothing is changed and those shops are returned in `unreadable`."""
    with engine.begin() as conn:
        rows = conn.execute(select(CREDENTIAL.c.id, SHOP.c.code, CREDENTIAL.c.access_token, CREDENTIAL.c.refresh_token)
                            .join(SHOP, SHOP.c.id == CREDENTIAL.c.shop_id).order_by(SHOP.c.code)
                            .with_for_update(of=CREDENTIAL)).all()
        new: list[tuple[int, str, str | None]] = []
        unreadable: list[str] = []
        were_clear = 0
        for row_id, code, access, refresh in rows:
            try:
                new.append((row_id, cipher.rotate(access), None if refresh is None else cipher.rotate(refresh)))
            except TokenKeyError:
                unreadable.append(code)
            were_clear += not is_encrypted(access)
        if unreadable:
            return Rotation(0, 0, tuple(unreadable))
        for row_id, access, refresh in new:
            conn.execute(update(CREDENTIAL).where(CREDENTIAL.c.id == row_id)
                         .values(access_token=access, refresh_token=refresh))
    return Rotation(len(new), were_clear)
