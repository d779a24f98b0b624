"""Shop API tokens encrypted at rest (Fernet: AES-128-CBC with an HMAC-SHA256, from `cryptography`).

The key is only ever read from the environment, KPIBOT_TOKEN_KEY, never from the config file (which is often
copied around or committed): a comma-separated list is a MultiFernet, the first key encrypting and every key
decrypting, so a new key is put first, `kpibot store rotate-key` re-encrypts every token with it, and the old
key can then be dropped. A stored value starts with PREFIX; one without it is a token stored in clear before
encryption, read as it is and encrypted when it is first read with a key (storage.ingest.token_store),
or by a save or a rotation. Nothing here logs or repr()s a token.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_ENV = "KPIBOT_TOKEN_KEY"
PREFIX = "fernet:"
HOW_TO = f"make a key with: kpibot store new-key, and set {KEY_ENV}"
# why a shop's stored tokens cannot be opened (its last error in `kpibot shops list`; never a value)
LOCKED_NO_KEY = f"tokens locked: {KEY_ENV} not set"
LOCKED_WRONG_KEY = f"tokens locked: {KEY_ENV} does not open them"
LOCKED_BAD_KEY = f"tokens locked: {KEY_ENV} is not a valid key"
LOCKED_FIX = (f"set {KEY_ENV} to the key that stored them (for a shop's first tokens, make a key with: "
              "kpibot store new-key)")


class TokenKeyError(ValueError):
    """No key, a malformed key, or a stored token that no key decrypts: one line naming the fix."""


class TokenCipher:
    """Encrypts with the first of `keys`, decrypts with any."""

    def __init__(self, keys: list[str]) -> None:
        fernets = []
        for i, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key.strip().encode()))
            except ValueError:
                raise TokenKeyError(f"{KEY_ENV}: key {i} of {len(keys)} is not a Fernet key ({HOW_TO})") from None
        if not fernets:
            raise TokenKeyError(f"{KEY_ENV} holds no key ({HOW_TO})")
        self._fernet = MultiFernet(fernets)
        self._first = fernets[0]   # the one that encrypts

    def __repr__(self) -> str:
        return "TokenCipher(...)"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> TokenCipher | None:
        """The cipher of KPIBOT_TOKEN_KEY; None when it is unset or empty."""
        text = (os.environ if environ is None else environ).get(KEY_ENV, "").strip()
        return cls([k for k in text.split(",") if k.strip()]) if text else None

    def encrypt(self, clear: str) -> str:
        return PREFIX + self._fernet.encrypt(clear.encode()).decode()

    def decrypt(self, stored: str) -> str:
        """The clear token; a value stored in clear (no PREFIX) as it is. TokenKeyError when no key fits."""
        if not is_encrypted(stored):
            return stored
        try:
            return self._fernet.decrypt(stored.removeprefix(PREFIX).encode()).decode()
        except InvalidToken:
            raise TokenKeyError(f"a stored token was encrypted with a key that is not in {KEY_ENV}") from None

    def encrypted_with_first(self, stored: str) -> bool:
        """Whether `stored` is encrypted with the first key, the one new tokens are encrypted with."""
        if not is_encrypted(stored):
            return False
        try:
            self._first.decrypt(stored.removeprefix(PREFIX).encode())
            return True
        except InvalidToken:
            return False

    def rotate(self, stored: str) -> str:
        """`stored` encrypted again with the first key (a clear one encrypted)."""
        return self.encrypt(self.decrypt(stored))


def is_encrypted(stored: str) -> bool:
    return stored.startswith(PREFIX)


def decrypt_without_key(stored: str) -> str:
    """A token read with no key configured: a clear one as it is, an encrypted one refused."""
    if is_encrypted(stored):
        raise TokenKeyError(f"the shop tokens are stored encrypted and {KEY_ENV} is not set: set it to the key "
                            "they were stored with")
    return stored


def new_key() -> str:
    return Fernet.generate_key().decode()


def missing_key() -> TokenKeyError:
    return TokenKeyError(f"shop tokens are stored encrypted and {KEY_ENV} is not set: {HOW_TO}")
