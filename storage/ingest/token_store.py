"""A shop's API tokens kept in the store (the `TokenStore` a source is given).

`save` is one upsert in one committed transaction: either the whole new set of tokens is stored or the old
one stays, never a mix, which matters for platforms whose refresh token is single-use (Shopee). The access and
refresh tokens are stored encrypted with KPIBOT_TOKEN_KEY (storage.token_cipher); without a key nothing is
saved. Every write that replaces values it read (encrypting clear ones on load, a rotation) is conditional on
the row still holding them, so a token refresh saved meanwhile is never overwritten. Nothing here logs or
repr()s a token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import ColumnElement, Table, delete, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from storage.ingest.records import Tokens
from storage.models import Shop, ShopCredential
from storage.token_cipher import (
    KEY_ENV,
    LOCKED_NO_KEY,
    LOCKED_WRONG_KEY,
    TokenCipher,
    TokenKeyError,
    decrypt_without_key,
    is_encrypted,
    missing_key,
)
from storage.upsert import upsert

log = logging.getLogger(__name__)
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
        """The shop's tokens, or None. TokenKeyError when they are encrypted and no key given decrypts them.

        Tokens stored in clear (before encryption) are encrypted at once when a key is given: a shop whose
        adapter never saves tokens (Amazon, Shopify) would otherwise keep them in clear for good. The write is
        conditional on the row still holding what was read, so a save meanwhile is never overwritten. Without
        a key, clear tokens are read as they are, with one warning per process naming the fix."""
        with self.engine.connect() as conn:
            row = conn.execute(select(CREDENTIAL.c.access_token, CREDENTIAL.c.refresh_token, CREDENTIAL.c.expires_at,
                                      CREDENTIAL.c.refresh_expires_at, CREDENTIAL.c.extra)
                               .where(CREDENTIAL.c.shop_id == self.shop_id)).first()
        if row is None:
            return None
        access, refresh = row[0], row[1]
        tokens = Tokens(self._clear(access), None if refresh is None else self._clear(refresh), row[2], row[3],
                        dict(row[4] or {}))
        in_clear = not is_encrypted(access) or (refresh is not None and not is_encrypted(refresh))
        if in_clear and self.cipher is not None:
            self._encrypt_in_place(self.cipher, access, refresh)
        elif in_clear:
            _warn_clear_once()
        return tokens

    def locked(self) -> str | None:
        """Why the stored tokens cannot be used (storage.token_cipher's LOCKED_*), None when they open or none
        are stored. Without a key even tokens stored in clear are locked: a refreshed token could not be saved.
        Only reads: nothing is encrypted in place."""
        with self.engine.connect() as conn:
            row = conn.execute(select(CREDENTIAL.c.access_token, CREDENTIAL.c.refresh_token)
                               .where(CREDENTIAL.c.shop_id == self.shop_id)).first()
        if row is None:
            return None
        if self.cipher is None:
            return LOCKED_NO_KEY
        try:
            for stored in row:
                if stored is not None:
                    self.cipher.decrypt(stored)
        except TokenKeyError:
            return LOCKED_WRONG_KEY
        return None

    def _encrypt_in_place(self, cipher: TokenCipher, access: str, refresh: str | None) -> None:
        with self.engine.begin() as conn:
            done = _replace_if_unchanged(conn, CREDENTIAL.c.shop_id == self.shop_id, access, refresh,
                                         cipher.rotate(access), None if refresh is None else cipher.rotate(refresh))
        if done:
            log.info("shop %s: tokens stored in clear were encrypted", self.shop_id)

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


def key_fits_others(engine: Engine, cipher: TokenCipher, shop_id: int | None) -> bool:
    """True when the tokens stored for some shop other than `shop_id` are under `cipher`'s first key, the one a
    new token is encrypted with (one is enough evidence), or none are stored encrypted: a new token then goes
    under the key the others are under, never a second key (e.g. the old one after `kpibot store rotate-key`,
    also when it is listed first as OLD,NEW). Only reads."""
    with engine.connect() as conn:
        rows = conn.execute(select(CREDENTIAL.c.access_token).where(CREDENTIAL.c.shop_id != (shop_id or 0))).all()
    encrypted = [stored for (stored,) in rows if stored is not None and is_encrypted(stored)]
    return not encrypted or any(cipher.encrypted_with_first(stored) for stored in encrypted)


_warned_clear = False
CLEAR_WARNING = (f"shop tokens are stored in clear: set {KEY_ENV} (make a key with: kpibot store new-key) and "
                 "run kpibot store rotate-key to encrypt them")


def _warn_clear_once() -> None:
    global _warned_clear
    if not _warned_clear:
        _warned_clear = True
        log.warning(CLEAR_WARNING)


@dataclass(frozen=True)
class Rotation:
    rewritten: int        # shops whose tokens were encrypted again with the first key
    were_clear: int       # of them, shops whose tokens had been stored in clear
    unreadable: tuple[str, ...] = ()   # shops (codes) whose tokens no key decrypts: then nothing was rewritten
    changed: tuple[str, ...] = ()      # shops whose tokens were saved anew meanwhile: then nothing was rewritten
    vacuumed: bool | None = None       # SQLite: whether the file was vacuumed afterwards (None: not SQLite)


def rotate_tokens(engine: Engine, cipher: TokenCipher, between: Callable[[], None] | None = None) -> Rotation:
    """Every shop's tokens encrypted again with `cipher`'s first key, in one transaction: all or nothing. When
    some shop's tokens no key decrypts, nothing is changed and those shops are returned in `unreadable`.

    Each row is written only if it still holds what was read (a conditional UPDATE, rows counted): SQLite has
    no SELECT ... FOR UPDATE, so a refresh may save new tokens between the read and the write, and writing the
    old ones over them would lose a single-use refresh token (Shopee). Then the whole rotation rolls back and
    those shops are returned in `changed`: running it again is safe. On SQLite the transaction runs with
    secure_delete on and the file is vacuumed after (and the WAL truncated), so neither old encrypted values
    nor values stored in clear stay in free pages. `between` runs after the read and before the writes (tests
    put a concurrent save there)."""
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        secure_before = _secure_delete(conn, True) if sqlite else None
        try:
            with conn.begin():
                done = _rotate(conn, cipher, between)
                if done.unreadable or done.changed:
                    conn.rollback()
                    return done
        finally:
            if secure_before is not None:
                _secure_delete(conn, secure_before)
        if not sqlite or not done.rewritten:
            return done
        try:
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.commit()
        except OperationalError as exc:   # the bot holds the store just now: the rotation itself is committed
            log.warning("token rotation committed but the store could not be vacuumed: %s", exc)
            conn.rollback()
            return replace(done, vacuumed=False)
        return replace(done, vacuumed=True)


def _rotate(conn: Connection, cipher: TokenCipher, between: Callable[[], None] | None) -> Rotation:
    rows = conn.execute(select(CREDENTIAL.c.id, SHOP.c.code, CREDENTIAL.c.access_token, CREDENTIAL.c.refresh_token)
                        .join(SHOP, SHOP.c.id == CREDENTIAL.c.shop_id).order_by(SHOP.c.code)
                        .with_for_update(of=CREDENTIAL)).all()
    new: list[tuple[int, str, str, str | None, str, str | None]] = []
    unreadable: list[str] = []
    were_clear = 0
    for row_id, code, access, refresh in rows:
        try:
            new.append((row_id, code, access, refresh, cipher.rotate(access),
                        None if refresh is None else cipher.rotate(refresh)))
        except TokenKeyError:
            unreadable.append(code)
        were_clear += not is_encrypted(access)
    if unreadable:
        return Rotation(0, 0, tuple(unreadable))
    if between is not None:
        between()
    changed = [code for row_id, code, old_access, old_refresh, access, refresh in new
               if not _replace_if_unchanged(conn, CREDENTIAL.c.id == row_id, old_access, old_refresh,
                                            access, refresh)]
    if changed:
        return Rotation(0, 0, changed=tuple(changed))
    return Rotation(len(new), were_clear)


def _replace_if_unchanged(conn: Connection, row: ColumnElement[bool], old_access: str, old_refresh: str | None,
                          access: str, refresh: str | None) -> bool:
    """Write the row's new token values only if it still holds the ones read; whether it did."""
    same_refresh = CREDENTIAL.c.refresh_token.is_(None) if old_refresh is None \
        else CREDENTIAL.c.refresh_token == old_refresh
    done = conn.execute(update(CREDENTIAL).where(row, CREDENTIAL.c.access_token == old_access, same_refresh)
                        .values(access_token=access, refresh_token=refresh))
    return done.rowcount == 1


def _secure_delete(conn: Connection, on: bool) -> bool:
    """Set SQLite's secure_delete on this connection (deleted content overwritten with zeros); the value before."""
    before = bool(conn.exec_driver_sql("PRAGMA secure_delete").scalar())
    conn.exec_driver_sql(f"PRAGMA secure_delete={'ON' if on else 'OFF'}")
    conn.commit()
    return before
