"""A TCP proxy on 127.0.0.1 (port 0) in front of a server (PostgreSQL in the tests) that a test can cut and
restore, to stand for a store that went away without stopping the server other tests share; or that closes
its first `refuse` connections at once, as a database still starting (or a network not up) looks to its client.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+psycopg://u:p@127.0.0.1:{proxy.port}/db"
        proxy.cut()       # every open connection is dropped and new ones are closed at once
        proxy.hold()      # ... and new ones are accepted and never answered (a server gone deaf)
        proxy.restore()
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType
from typing import Self


class TcpProxy:
    def __init__(self, host: str, port: int, refuse: int = 0) -> None:
        self.target = (host, port)
        self.refuse = refuse       # the first connections to close on arrival
        self.forwarded = 0         # connections forwarded to the server
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        self._cut = False
        self._hold = False
        self._held: list[socket.socket] = []
        self._closed = False
        self.refused = 0           # connections closed on arrival (the first `refuse`, or while cut)
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def cut(self) -> None:
        """Drop every open connection; from now on a connection is closed as soon as it arrives."""
        with self._lock:
            self._cut = True
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            _close(sock)

    def hold(self) -> None:
        """Drop every open connection; from now on a connection is accepted and never answered."""
        self.cut()
        with self._lock:
            self._cut, self._hold = False, True

    def restore(self) -> None:
        with self._lock:
            self._cut = self._hold = False
            held, self._held = self._held, []
        for sock in held:
            _close(sock)

    def close(self) -> None:
        self._closed = True
        self.restore()
        self.cut()
        _close(self._listener)
        self._thread.join(5)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                cut, hold = self._cut or self.refused < self.refuse, self._hold
                if hold:
                    self._held.append(client)
            if hold:
                continue
            if cut:
                self.refused += 1
                _close(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
            except OSError:
                _close(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._open.update((client, server))
                self.forwarded += 1
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with self._lock:
                    self._open.discard(sock)
                _close(sock)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
