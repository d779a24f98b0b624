"""kpibot store new-key | rotate-key: the key the shop tokens are encrypted with (storage.token_cipher)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import datetime

from bot.config import Config
from bot.usage import UsageError
from services.container import Services
from storage.ingest.token_store import rotate_tokens
from storage.token_cipher import KEY_ENV, TokenCipher, new_key


def print_new_key() -> int:
    """A new key on stdout, alone, for a secret store or an environment file."""
    print(new_key())
    return 0


def run(services: Services, args: argparse.Namespace, config: Config, clock: Callable[[], datetime]) -> int:
    if args.action == "new-key":
        return print_new_key()
    cipher = TokenCipher.from_environment()
    if cipher is None:
        raise UsageError(f"{KEY_ENV} is not set: put the new key first and the old ones after it, comma-separated "
                         "(make a key with: kpibot store new-key)")
    done = rotate_tokens(services.engine, cipher)
    if done.unreadable:
        print(f"kpibot: no key in {KEY_ENV} decrypts the tokens of shop(s) {', '.join(done.unreadable)}; "
              "nothing was changed (add the key they were stored with, after the new one)", file=sys.stderr)
        return 1
    if done.changed:
        print(f"kpibot: the tokens of shop(s) {', '.join(done.changed)} were saved anew while they were being "
              "re-encrypted (a token refresh); nothing was changed: run kpibot store rotate-key again",
              file=sys.stderr)
        return 1
    clear = f" ({done.were_clear} of them stored in clear until now)" if done.were_clear else ""
    vacuum = {True: "; the store file was vacuumed so the old values do not stay in its free pages",
              False: "; the store file could not be vacuumed just now (the bot is using it): old values may stay "
                     "in its free pages until it is (stop the bot and run rotate-key again)",
              None: ""}[done.vacuumed]
    print(f"re-encrypted the tokens of {done.rewritten} shop(s) with the first key of {KEY_ENV}{clear}"
          + ("; the other keys may now be removed from it" if done.rewritten else "") + vacuum)
    return 0
