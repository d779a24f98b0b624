"""One TikTok shop sync in a process of its own, for the kill -9 test of tests/test_sync_to_store.py.

    python -m tests.sync_worker '<json>'

The JSON names the store (``url``), the shop (``shop_id``), the sync's ``now`` (ISO 8601), the fake TikTok Shop
(``base_url``, ``app_key``, ``app_secret``), the tokens it issued (``access_token``, ``refresh_token``,
``expires_at``, ``shop_cipher``) and the source's ``page_size``/``returns_page_size``. The real
`TikTokShopSource` and `sync_shop` run exactly as in production; the test kills this process mid-run. Exit code
0 when the sync ended (whatever its report says: the test wanted it killed before that), 2 on bad arguments.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime

from bot.shops.tiktok_shop import TikTokShopSource
from storage.engine import make_engine
from storage.ingest.records import Tokens
from storage.ingest.sync import sync_shop
from tests.memory_tokens import MemoryTokens


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m tests.sync_worker '<json>'", file=sys.stderr)
        return 2
    job = json.loads(argv[0])
    tokens = Tokens(job["access_token"], job["refresh_token"], datetime.fromisoformat(job["expires_at"]), None,
                    {"shop_cipher": job["shop_cipher"]})
    engine = make_engine(job["url"])
    with TikTokShopSource(app_key=job["app_key"], app_secret=job["app_secret"], tokens=MemoryTokens(tokens),
                          base_url=job["base_url"], auth_base_url=job["base_url"], currency="USD",
                          shop_tz="America/Los_Angeles", page_size=job["page_size"],
                          returns_page_size=job["returns_page_size"], timeout_s=5.0, backoff_s=0.01,
                          max_wait_s=0.05) as source:
        report = sync_shop(engine, job["shop_id"], source, None, datetime.fromisoformat(job["now"]))
    print(json.dumps({"ok": report.ok, "failed": report.failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
