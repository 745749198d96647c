"""A local stand-in for the slice of Slack's Web API that Frontdesk's Slack channel calls.

A real HTTP server on 127.0.0.1 that follows Slack's documented shapes for ``chat.postMessage``
(https://api.slack.com/methods/chat.postMessage): bearer-token auth, JSON or form bodies, HTTP
200 with ``{"ok": false, "error": ...}`` for API errors, and ``{"ok": true, "channel", "ts",
"message"}`` on success. ``posted`` holds every accepted message for tests to inspect.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if (self.headers.get("Content-Type") or "").startswith("application/json"):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = None
        else:
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        status, reply = self.server.standin.dispatch(self.path, self.headers.get("Authorization"), body)
        data = json.dumps(reply).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, standin: SlackStandIn) -> None:
        self.standin = standin
        super().__init__(("127.0.0.1", 0), _Handler)


class SlackStandIn:
    def __init__(self, bot_token: str = "xoxb-test-token") -> None:
        self.bot_token = bot_token
        self.posted: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True, name="slack-standin")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def __enter__(self) -> SlackStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def dispatch(self, path: str, authorization: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        if path != "/api/chat.postMessage":
            return 404, {"ok": False, "error": "unknown_method"}
        if authorization != f"Bearer {self.bot_token}":
            return 200, {"ok": False, "error": "not_authed" if not authorization else "invalid_auth"}
        if not isinstance(body, dict):
            return 200, {"ok": False, "error": "invalid_json"}
        if not body.get("channel"):
            return 200, {"ok": False, "error": "channel_not_found"}
        if not (body.get("text") or body.get("blocks") or body.get("attachments")):
            return 200, {"ok": False, "error": "no_text"}
        ts = f"{time.time():.6f}"
        message = {"type": "message", "bot_id": "B0FRONTDESK", "text": body.get("text", ""), "ts": ts,
                   **({"thread_ts": body["thread_ts"]} if body.get("thread_ts") else {})}
        with self._lock:
            self.posted.append({**body, "ts": ts})
        return 200, {"ok": True, "channel": body["channel"], "ts": ts, "message": message}

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = [p for p in self.posted if predicate(p)]
            if found:
                return found
            time.sleep(0.2)
        return []
