"""A source run in a process of its own, so that fetching and writing use two cores.

Python runs one thread at a time per process. A sync's two halves, fetching (HTTP, JSON, mapping to records,
encoding orders for the store) and writing (comparing and SQL), each take a core's worth of work on a first sync
of a large shop, so in one process they take turns: about 18,600 orders/s from TikTok Shop into SQLite on the
reference machine, against 27,500 to 28,000 with the source in a process of its own, and 10,900 against 12,500
to 13,300 into PostgreSQL (tests/benchmarks/bench_sync.py, 1,000,000 orders).

`ProcessSource(factory, encoder)` starts a child process (spawn: safe in a process that runs threads), builds the
source there with `factory()` (a picklable callable: a module-level function or a functools.partial of one; the
child makes its own connections, e.g. its own engine for a DbTokenStore) and then serves `pages` from it: each
page's OrderRecords are encoded there with `encoder` (storage.ingest.encoding, from `StoreWriter.encoder`), so the
sync's process gets plain tuples, which cost little to receive and nothing to encode. A source that offers
`encode_orders_with(encoder)` (TikTokShopSource) is given the encoder and lists its orders encoded straight from the
platform's answers, without making OrderRecords first (about 6 us an order less). It is a `Source` like any
other: the sync keeps its cursor, its batches and its crash safety (the child holds nothing that is not fetched
again after a crash).

- Pages arrive through a pipe into a queue of up to `ahead_pages` pages, received by a thread of this process
  (receiving overlaps the writer's SQL, which runs without the GIL); `page_ready` says whether the next page is
  there, as the sync asks before it keeps a batch open.
- Errors: an exception in the child ends the listing there, after the pages before it, and is raised here: a
  SourceError as it is (kind, message, code), anything else as SourceError(SERVER) naming its type and place. A
  child that dies (killed, out of memory) is a SourceError(SERVER) too; the next run starts a new one.
- The child's log records are handled by this process's logging (same loggers, levels and handlers).
- Leaving a listing early tells the child to stop it; `close()` ends the child (and is idempotent).
- One listing at a time, as the sync asks for them.

Spawning costs about a second (imports), so the CLI's `kpibot sync` (backfills, first syncs) uses it and the
scheduled refresh, which fetches minutes of changes, runs its sources in its own process.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import pickle
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from storage.ingest.encoding import OrderEncoder
from storage.ingest.heap import frozen_heap
from storage.ingest.records import FailureKind, Page, Source, SourceError

log = logging.getLogger(__name__)

AHEAD_PAGES = 32        # pages received ahead of the sync (about 4 MB of orders)
START_TIMEOUT_S = 120.0  # for the child to import and build its source


class ProcessSource:
    """`Source` whose pages come from `factory()` run in a child process (see the module docstring)."""

    def __init__(self, factory: Callable[[], Source], encoder: OrderEncoder | None = None, *,
                 ahead_pages: int = AHEAD_PAGES, start_timeout_s: float = START_TIMEOUT_S) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_child_main, args=(child_end, factory, encoder, _log_levels()),
                                        daemon=True, name="kpibot-source")
        self._send_lock = threading.Lock()
        self._inbox: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=max(1, ahead_pages))
        self._peeked: tuple[str, Any] | None = None
        self._listing = False
        self._closed = False
        self._process.start()
        child_end.close()
        try:
            kind, value = "log", None
            while kind == "log":
                if not self._conn.poll(start_timeout_s):
                    raise SourceError(FailureKind.SERVER,
                                      f"the source's process did not start in {start_timeout_s:.0f} s")
                kind, value = _receive(self._conn)
                if kind == "log":
                    _log(value)
            if kind == "error":
                raise value
            if kind != "ready":
                raise SourceError(FailureKind.SERVER, f"the source's process began with {kind!r}")
        except BaseException:
            self._end_child()
            raise
        self.resources: tuple[str, ...] = tuple(value)
        self._receiver = threading.Thread(target=self._receive_loop, name="kpibot-source-receiver", daemon=True)
        self._receiver.start()

    def __repr__(self) -> str:
        return f"ProcessSource(pid={self.pid}, resources={self.resources})"

    @property
    def pid(self) -> int | None:
        """The source's process."""
        return self._process.pid

    def __enter__(self) -> ProcessSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def pages(self, resource: str, since: datetime | None, until: datetime,
              resume: str | None = None) -> Iterator[Page]:
        if self._listing:
            raise RuntimeError("ProcessSource serves one listing at a time; close the other one first")
        self._listing = True
        try:
            self._send(("pages", (resource, since, until, resume)))
            ended = False
            try:
                while True:
                    kind, value = self._next()
                    if kind == "page":
                        yield value
                    elif kind == "end":
                        ended = True
                        return
                    else:   # "error", also from the receiver when the child died
                        ended = True
                        raise value
            finally:
                if not ended:   # left early: the child stops the listing, and what it sent meanwhile goes
                    with contextlib.suppress(SourceError):   # (unless it has gone: then nothing more comes)
                        self._send(("stop", None))
                        while self._next()[0] == "page":
                            pass
        finally:
            self._listing = False

    def page_ready(self, wait_s: float = 0.0) -> bool:
        """The listing's next page (or its end) is here already, or arrives within `wait_s` seconds."""
        if self._peeked is not None:
            return True
        try:
            self._peeked = self._inbox.get(timeout=wait_s) if wait_s > 0 else self._inbox.get_nowait()
        except queue.Empty:
            return False
        return True

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(SourceError):   # it has gone already
            self._send(("close", None))
        self._end_child()

    # --- this process's side -----------------------------------------------------------------------------------

    def _next(self) -> tuple[str, Any]:
        if self._peeked is not None:
            item, self._peeked = self._peeked, None
            return item
        return self._inbox.get()

    def _send(self, message: tuple[str, Any]) -> None:
        try:
            with self._send_lock:
                self._conn.send(message)
        except (OSError, ValueError) as exc:   # the pipe is closed: the child has gone
            raise SourceError(FailureKind.SERVER, f"the source's process has ended ({self._exit_text()})") from exc

    def _receive_loop(self) -> None:
        """Moves the child's messages into the inbox (blocking when it is full: the child then waits); log records
        are handled here. Ends at the child's end, putting an error for a listing that is waiting."""
        try:
            while True:
                kind, value = _receive(self._conn)
                if kind == "log":
                    _log(value)
                    continue
                self._inbox.put((kind, value))
                if kind == "closed":
                    return
        except (EOFError, OSError):
            self._process.join(5)
            self._inbox.put(("error", SourceError(FailureKind.SERVER, "the source's process ended unexpectedly "
                                                                      f"({self._exit_text()})")))

    def _exit_text(self) -> str:
        code = self._process.exitcode
        return "still running" if code is None else f"exit code {code}"

    def _end_child(self) -> None:
        self._process.join(10)
        if self._process.is_alive():
            log.warning("the source's process did not end when told; terminating it")
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


def _receive(conn: Connection) -> tuple[str, Any]:
    return pickle.loads(conn.recv_bytes())


def _log(record: logging.LogRecord) -> None:
    """A log record of the child, handled as if logged here."""
    logger = logging.getLogger(record.name)
    if logger.isEnabledFor(record.levelno):
        logger.handle(record)


def _log_levels() -> dict[str, int]:
    """The levels set in this process (root: ""), for the child's loggers: it sends only what would be logged."""
    levels = {"": logging.getLogger().level}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            levels[name] = logger.level
    return levels


# --- the child --------------------------------------------------------------------------------------------------

class _Sender:
    """The child's end of the pipe: one message at a time, whichever thread sends (the source's own threads log)."""

    def __init__(self, conn: Connection) -> None:
        self.conn, self.lock = conn, threading.Lock()

    def send(self, kind: str, value: Any) -> None:
        data = pickle.dumps((kind, value), protocol=pickle.HIGHEST_PROTOCOL)
        with self.lock:
            self.conn.send_bytes(data)

    def put_nowait(self, record: logging.LogRecord) -> None:   # logging.handlers.QueueHandler's queue
        self.send("log", record)


def _child_main(conn: Connection, factory: Callable[[], Source], encoder: OrderEncoder | None,
                log_levels: dict[str, int]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole process group: the sync decides
    sender = _Sender(conn)
    root = logging.getLogger()
    root.handlers[:] = [logging.handlers.QueueHandler(sender)]   # type: ignore[arg-type]
    for name, level in log_levels.items():
        logging.getLogger(name or None).setLevel(level)
    try:
        source = factory()
    except BaseException as exc:
        sender.send("error", _portable(exc))
        return
    encode_orders_with = getattr(source, "encode_orders_with", None)
    if encoder is not None and encode_orders_with is not None:   # a source that encodes its orders as it maps them
        encode_orders_with(encoder)                               # (encode_page then leaves its pages as they are)
    try:
        sender.send("ready", tuple(source.resources))
        with frozen_heap():   # what the child imported and built stays out of the collector's way
            _serve(conn, sender, source, encoder)
    except (EOFError, BrokenPipeError, ConnectionResetError):
        return   # the sync's process has gone: so does this one
    finally:
        source.close()


def _serve(conn: Connection, sender: _Sender, source: Source, encoder: OrderEncoder | None) -> None:
    while True:
        kind, value = conn.recv()
        if kind == "close":
            sender.send("closed", None)
            return
        if kind == "pages":
            _serve_listing(conn, sender, source, encoder, *value)
        # a "stop" for a listing that ended meanwhile needs nothing


def _serve_listing(conn: Connection, sender: _Sender, source: Source, encoder: OrderEncoder | None, resource: str,
                   since: datetime | None, until: datetime, resume: str | None) -> None:
    listing = source.pages(resource, since, until, resume)
    try:
        for page in listing:
            if conn.poll():   # the sync left the listing
                kind, _ = conn.recv()
                if kind in ("stop", "close"):
                    break
            sender.send("page", encoder.encode_page(page) if encoder is not None else page)
        sender.send("end", None)
    except (BrokenPipeError, ConnectionResetError):
        raise
    except Exception as exc:
        sender.send("error", _portable(exc))
    finally:
        close = getattr(listing, "close", None)
        if close is not None:
            close()


def _portable(exc: BaseException) -> BaseException:
    """What the sync's process raises for an exception in the child: a SourceError, or an exception whose class
    says its text is safe (`safe_message = True`, e.g. bot.shop_sources.NoSource), as it is; anything else as a
    SourceError(SERVER) with its type and place (its text may hold a URL, so it stays out)."""
    if isinstance(exc, SourceError) or getattr(exc, "safe_message", False) is True:
        return exc
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else "?"
    logging.getLogger(__name__).error("the source failed: unexpected %s at %s", type(exc).__name__, where)
    return SourceError(FailureKind.SERVER, f"unexpected {type(exc).__name__} at {where} in the source's process")
