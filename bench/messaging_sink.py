"""A counting HTTP sink for the messaging benchmark and limiter test: `python -m bench.messaging_sink PORT`.

A bare ASGI app under uvicorn (no framework), so the sink is not what limits
the figures. POST anything: counted, with its arrival time and Idempotency-Key.
GET /stats: {"count", "unique", "times"}; GET /count: {"count"}; DELETE /stats resets.
"""

from __future__ import annotations

import json
import sys
import time

import uvicorn

STATE = {"times": [], "keys": set()}


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    method, path = scope["method"], scope["path"]
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    if method == "POST":
        STATE["times"].append(time.time())
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                STATE["keys"].add(value)
        body = b'{"ok":true}'
    elif method == "GET" and path == "/count":
        body = json.dumps({"count": len(STATE["times"])}).encode()
    elif method == "GET" and path == "/stats":
        body = json.dumps(
            {"count": len(STATE["times"]), "unique": len(STATE["keys"]), "times": STATE["times"]}
        ).encode()
    elif method == "DELETE":
        STATE["times"], STATE["keys"] = [], set()
        body = b"{}"
    else:
        body = b"{}"
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
