"""Errors that every API edge (HTTP, gRPC, GraphQL) maps to a clear answer.

Domain code raises these; the edges translate them: InvalidInput becomes HTTP
400 / gRPC INVALID_ARGUMENT / GraphQL code BAD_USER_INPUT, always naming the field.
"""

from __future__ import annotations


class CdpError(Exception):
    code = "INTERNAL"

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def as_dict(self) -> dict:
        doc = {"code": self.code, "message": self.message}
        if self.field:
            doc["field"] = self.field
        return doc


class InvalidInput(CdpError):
    code = "BAD_USER_INPUT"


class NotFound(CdpError):
    code = "NOT_FOUND"


class Unauthenticated(CdpError):
    code = "UNAUTHENTICATED"


class Forbidden(CdpError):
    """A known caller asking for a workspace or an operation its credential does not cover."""

    code = "FORBIDDEN"


class Conflict(CdpError):
    code = "CONFLICT"


MAX_ID_LENGTH = 256


def required(value: str, field: str, max_length: int = MAX_ID_LENGTH) -> str:
    """The value of a field every API call must carry (proto3 strings default to "")."""
    value = value.strip()
    if not value:
        raise InvalidInput(f"{field} is required", field)
    if len(value) > max_length:
        raise InvalidInput(f"{field} is longer than {max_length} characters", field)
    return value


class RateLimited(CdpError):
    """Too many attempts (failed logins); the caller should wait before trying again."""

    code = "RATE_LIMITED"
