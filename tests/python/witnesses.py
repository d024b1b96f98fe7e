"""Test witnesses shared by the Python SDK's tests: a loopback HTTP server standing in for a
provider (or a vault), keeping every request it receives."""
from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Reply = tuple[int, dict[str, str], bytes]

# The provider hosts the seed's examples call; against `alter-vault dev` each becomes the sandbox's
# <vault>/sandbox/api (the one change besides the key, the base URL and the provider).
SEED_HOSTS = ("https://www.googleapis.com", "https://gmail.googleapis.com", "https://api.example.com",
              "https://api.notion.com")


def json_reply(status: int, body) -> Reply:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


class Recorder:
    """A loopback HTTP server that keeps every request and answers with `reply(request)`."""

    def __init__(self, reply: Callable[[dict], Reply] | None = None) -> None:
        self.requests: list[dict] = []
        self.reply = reply or (lambda req: json_reply(200, {"target": req["target"]}))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                req = {"method": self.command, "target": self.path, "body": self.rfile.read(length) if length else b"",
                       "headers": [(k.lower(), v) for k, v in self.headers.items()]}
                recorder.requests.append(req)
                status, headers, body = recorder.reply(req)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def headers_of(req: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in req["headers"]:
        out[k] = out[k] + ", " + v if k in out else v
    return out


def closed_url() -> str:
    """An http URL on loopback where nothing listens (connecting is refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"
