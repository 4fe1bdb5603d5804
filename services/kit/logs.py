"""JSON structured logs: one object per line, so log shippers need no parsing rules."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from opentelemetry import trace

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

# Driver errors quote the offending document's key: MongoDB's E11000 names the
# duplicate (an identifier, an email) in `dup key: {...}` and `keyValue`. Logs
# must hold no identifier or trait value, so those parts go before a line is written.
_VALUES_IN_ERRORS = [
    (re.compile(r"dup key: \{.*?\}"), "dup key: {…}"),
    (re.compile(r"(['\"]keyValue['\"]: )\{.*?\}"), r"\1{…}"),
]


def scrub(text: str) -> str:
    """An error text without the document values drivers quote in it."""
    for pattern, replacement in _VALUES_IN_ERRORS:
        text = pattern.sub(replacement, text)
    return text


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": scrub(record.getMessage()),
        }
        # The trace this line was written in (when tracing is on), to jump from a log line to its trace.
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            doc["trace_id"] = format(span.trace_id, "032x")
            doc["span_id"] = format(span.span_id, "016x")
        # Fields passed with `extra=` become top-level keys.
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(doc, default=str, ensure_ascii=False)


def setup_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiokafka logs every rebalance and reconnect at INFO; keep them but quieter.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    # httpx logs every request with its full URL at INFO; webhook URLs may carry tokens.
    logging.getLogger("httpx").setLevel(logging.WARNING)
