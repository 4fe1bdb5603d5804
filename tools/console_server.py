"""The operator console's own port: console/dist as static files, /graphql passed to the gateway.

The console calls /graphql on its own origin, so no CORS origin has to be configured on
the gateway; requests and answers pass through unchanged (the operator's Authorization
header included), so the console still sees exactly the public endpoint. Any other path
that is not a file is the single-page app's: index.html (client-side routes).

    python -m tools.console_server --dist console/dist --port 4010 --gateway http://127.0.0.1:4000/graphql
"""

from __future__ import annotations

import argparse
import http.client
import json
import mimetypes
import pathlib
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Only what the gateway reads; the browser's cookies and the like stay here.
FORWARDED_HEADERS = ("content-type", "authorization", "x-workspace-id", "accept")
RETURNED_HEADERS = ("content-type", "retry-after")
MAX_BODY = 1 << 20


class ConsoleServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, dist: pathlib.Path, gateway: str):
        super().__init__(address, Handler)
        self.dist = dist.resolve()
        self.gateway = urllib.parse.urlsplit(gateway)
        self.local = threading.local()

    def gateway_connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        # One kept-alive connection per handler thread: no TCP handshake per keystroke's count.
        conn = getattr(self.local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.gateway.hostname, self.gateway.port or 80, timeout=60)
            self.local.conn = conn
        return conn


class Handler(BaseHTTPRequestHandler):
    server: ConsoleServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path != "/graphql":
            return self._send(404, b"not found", "text/plain")
        length = int(self.headers.get("content-length") or 0)
        if length > MAX_BODY:
            return self._send(413, b"request too large", "text/plain")
        body = self.rfile.read(length)
        headers = {name: self.headers[name] for name in FORWARDED_HEADERS if self.headers.get(name)}
        for attempt in (0, 1):
            conn = self.server.gateway_connection(fresh=attempt > 0)
            try:
                conn.request("POST", self.server.gateway.path or "/graphql", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                break
            except (ConnectionError, http.client.HTTPException, OSError):
                # A kept-alive connection the gateway closed: retry once on a fresh one.
                if attempt:
                    return self._send(502, b'{"errors":[{"message":"gateway unreachable"}]}', "application/json")
        extra = {name: resp.headers[name] for name in RETURNED_HEADERS if resp.headers.get(name)}
        self._send(resp.status, data, extra.pop("content-type", "application/json"), extra)

    def do_GET(self):
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path == "/config.json":
            return self._send(200, json.dumps({"graphqlUrl": "/graphql"}).encode(), "application/json")
        target = (self.server.dist / path.lstrip("/")).resolve()
        if not target.is_relative_to(self.server.dist) or not target.is_file():
            target = self.server.dist / "index.html"
        if not target.is_file():
            return self._send(503, b"console not built: run ./suite start (or npm run build in console/)", "text/plain")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        # Hashed asset names never change content; index.html must be re-read to find new ones.
        cache = "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache"
        self._send(200, target.read_bytes(), kind, {"cache-control": cache})

    def _send(self, status: int, data: bytes, kind: str, headers: dict | None = None):
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dist", type=pathlib.Path, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--gateway", required=True, help="the gateway's GraphQL URL")
    args = parser.parse_args()
    ConsoleServer((args.host, args.port), args.dist, args.gateway).serve_forever()


if __name__ == "__main__":
    main()
