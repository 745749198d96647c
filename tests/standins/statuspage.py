"""A local stand-in for a Statuspage status feed: ``GET /api/v2/summary.json``.

A real HTTP server on 127.0.0.1, so the adapter's timeout, status handling and JSON parsing are
exercised over a socket, not a mocked transport. The summary follows Statuspage's documented
shape (``page``, ``status: {indicator, description}``, ``components``, ``incidents`` with
``incident_updates``, ``scheduled_maintenances``). The page starts with every component
operational; ``outage`` adds an incident and degrades its components.

Faults for tests: ``fail`` (HTTP 500 until ``heal``), ``hang`` (no answer for ``hang_seconds``:
past any sensible client timeout), ``malformed`` (a 200 whose body is not JSON), ``wrong_shape``
(JSON, but not a summary).
"""

from __future__ import annotations

import copy
import json
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SUMMARY_PATH = "/api/v2/summary.json"
PAGE_ID = "y2j98763l56x"
INDICATOR_DESCRIPTIONS = {"none": "All Systems Operational", "minor": "Minor Service Outage",
                          "major": "Partial System Outage", "critical": "Major System Outage"}
COMPONENT_FOR_IMPACT = {"minor": "degraded_performance", "major": "partial_outage", "critical": "major_outage"}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: StatuspageStandIn) -> None:
        self.standin = standin
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address):
        # A client that gave up (its timeout) or dropped its keep-alive connection: expected here.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after this many seconds
    server: _Server

    def do_GET(self):
        status, body = self.server.standin.answer(self.path)
        if status == 0:  # hung until released: the client has given up by now
            self.close_connection = True
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # keep test output quiet
        pass


class StatuspageStandIn:
    """The fake status page. ``requests`` counts the summary requests served (or failed)."""

    def __init__(self, components: tuple[str, ...] = ("API", "Dashboard", "Billing", "Email notifications")):
        self.components = [
            {"id": f"c{i:011d}", "name": name, "status": "operational", "created_at": _now(), "updated_at": _now(),
             "position": i, "description": None, "showcase": True, "start_date": None, "group_id": None,
             "page_id": PAGE_ID, "group": False, "only_show_if_degraded": False}
            for i, name in enumerate(components, start=1)
        ]
        self.incidents: list[dict[str, Any]] = []
        self.scheduled_maintenances: list[dict[str, Any]] = []
        self.requests = 0
        self.mode = "ok"  # ok | fail | hang | malformed | wrong_shape
        self.hang_seconds = 5.0
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in has not been started")
        return f"http://127.0.0.1:{self._server.server_address[1]}{SUMMARY_PATH}"

    def start(self) -> StatuspageStandIn:
        self._server = _Server(("127.0.0.1", 0), self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="statuspage-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # a hung request ends now
        if self._server is not None and self._thread is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def __enter__(self) -> StatuspageStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- switches -------------------------------------------------------------------------------

    def fail(self) -> None:
        self.mode = "fail"

    def hang(self, seconds: float = 5.0) -> None:
        self.mode, self.hang_seconds = "hang", seconds

    def malformed(self) -> None:
        self.mode = "malformed"

    def wrong_shape(self) -> None:
        self.mode = "wrong_shape"

    def heal(self) -> None:
        self.mode = "ok"

    def all_clear(self) -> None:
        """Every incident resolved and every component operational again."""
        with self._lock:
            self.incidents.clear()
            for component in self.components:
                component["status"], component["updated_at"] = "operational", _now()

    # -- the page -------------------------------------------------------------------------------

    def outage(self, component: str, impact: str = "major", name: str = "Elevated API errors",
               status: str = "investigating", body: str = "We are investigating elevated error rates.",
               incident_id: str = "p31zjtct2jer") -> dict[str, Any]:
        """An incident affecting ``component``, which is degraded to match the impact."""
        with self._lock:
            affected = [c for c in self.components if c["name"] == component]
            for item in affected:
                item["status"], item["updated_at"] = COMPONENT_FOR_IMPACT[impact], _now()
            now = _now()
            incident = {
                "id": incident_id, "name": name, "status": status, "impact": impact, "created_at": now,
                "started_at": now, "updated_at": now, "monitoring_at": None, "resolved_at": None,
                "shortlink": f"https://stspg.io/{incident_id[:5]}", "page_id": PAGE_ID,
                "components": copy.deepcopy(affected),
                "incident_updates": [{
                    "id": f"u{incident_id}", "status": status, "body": body, "incident_id": incident_id,
                    "created_at": now, "updated_at": now, "display_at": now, "affected_components": None,
                }],
            }
            self.incidents.insert(0, incident)
            return incident

    def summary(self) -> dict[str, Any]:
        with self._lock:
            impacts = [i["impact"] for i in self.incidents if i["status"] not in ("resolved", "postmortem")]
            order = ["none", "minor", "major", "critical"]
            indicator = max(impacts, key=order.index, default="none")
            return copy.deepcopy({
                "page": {"id": PAGE_ID, "name": "Frontdesk Example", "url": "https://status.example.com",
                         "time_zone": "Etc/UTC", "updated_at": _now()},
                "status": {"indicator": indicator, "description": INDICATOR_DESCRIPTIONS[indicator]},
                "components": self.components,
                "incidents": [i for i in self.incidents if i["status"] not in ("resolved", "postmortem")],
                "scheduled_maintenances": self.scheduled_maintenances,
            })

    def answer(self, path: str) -> tuple[int, bytes]:
        if path.split("?", 1)[0] != SUMMARY_PATH:
            return 404, b'{"error": "Not found"}'
        with self._lock:
            self.requests += 1
            mode = self.mode
        if mode == "fail":
            return 500, b'{"error": "Internal Server Error"}'
        if mode == "hang":
            self._release.wait(self.hang_seconds)
            return 0, b""
        if mode == "malformed":
            return 200, b'{"page": {"id": "y2j98763l56x"}, "status": {"indicator": "no'
        if mode == "wrong_shape":
            return 200, json.dumps({"status": "all good"}).encode()
        return 200, json.dumps(self.summary()).encode()
