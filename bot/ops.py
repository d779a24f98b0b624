"""The operations endpoint of `kpibot run` ([ops] host and port): /healthz, /readyz and /metrics.

- /healthz: 200 while the process runs.
- /readyz: 200 when every check passes, else 503; the body is JSON naming each check and whether it passed.
  The checks (bot.cli.serve): the store answers, every platform connection is up, the refresh lease's holder
  (the replica that runs the shop refresh) is known. Before them, while `kpibot run` waits for its store and
  connects, 503 with what it waits for (`waiting`, e.g. {"store": "waiting"}).
- /metrics: bot.metrics in Prometheus' text format.

A small stdlib HTTP server on a daemon thread: the process serves a handful of probes a minute.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bot import metrics

log = logging.getLogger(__name__)
Check = Callable[[], bool]


class OpsServer:
    def __init__(self, host: str, port: int, checks: Mapping[str, Check],
                 waiting: Mapping[str, str] | None = None) -> None:
        self.checks = dict(checks)
        self.waiting: Mapping[str, str] | None = waiting   # starting up: what for, shown by /readyz (503)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/healthz":
                    self._send(200, "application/json", b'{"status": "ok"}')
                elif path == "/readyz" and server.waiting is not None:
                    body = {"status": "starting", "waiting": dict(server.waiting)}
                    self._send(503, "application/json", json.dumps(body).encode())
                elif path == "/readyz":
                    results = server.readiness()
                    ok = all(results.values())
                    body = {"status": "ready" if ok else "not ready", "checks": results,
                            "failed": [name for name, passed in results.items() if not passed]}
                    self._send(200 if ok else 503, "application/json", json.dumps(body).encode())
                elif path == "/metrics":
                    self._send(200, metrics.CONTENT_TYPE, metrics.render())
                else:
                    self._send(404, "application/json", b'{"status": "not found"}')

            def _send(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass   # probes every few seconds are not news

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="kpibot-ops", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def readiness(self) -> dict[str, bool]:
        results: dict[str, bool] = {}
        for name, check in self.checks.items():
            try:
                results[name] = bool(check())
            except Exception as exc:   # a check that fails to run has failed
                log.warning("readiness check %s failed: %s: %s", name, exc.__class__.__name__, exc)
                results[name] = False
        return results

    def ready_when(self, checks: Mapping[str, Check]) -> None:
        """Started: from now on /readyz runs these checks."""
        self.checks = dict(checks)
        self.waiting = None

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
