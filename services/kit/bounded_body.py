"""Reading an HTTP request body within a size budget, gzip included.

The compressed bytes are counted as they arrive and a gzip body is inflated
piece by piece with zlib's `max_length`, so an 8 KB body that inflates to
8 MB costs at most the budget (plus one byte) before it is refused: a body is
never inflated first and measured after.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from services.kit.errors import InvalidInput

GZIP_WBITS = 31  # zlib's gzip container (header and CRC), not raw deflate


class BodyTooLarge(Exception):
    def __init__(self, limit: int, what: str) -> None:
        super().__init__(f"{what} is larger than {limit} bytes")
        self.limit = limit
        self.message = str(self)


class BoundedInflater:
    """Inflates gzip (one or more members) into at most `max_bytes`; `inflated` counts what it produced."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.inflated = 0
        self._out = bytearray()
        self._z = zlib.decompressobj(GZIP_WBITS)

    def feed(self, chunk: bytes) -> None:
        data = chunk
        try:
            while data:
                piece = self._z.decompress(data, self.max_bytes - self.inflated + 1)
                self.inflated += len(piece)
                if self.inflated > self.max_bytes:
                    raise BodyTooLarge(self.max_bytes, "inflated request")
                self._out += piece
                if self._z.eof:
                    data = self._z.unused_data
                    if data:  # concatenated members, as gzip.decompress accepts
                        self._z = zlib.decompressobj(GZIP_WBITS)
                else:
                    data = self._z.unconsumed_tail
        except zlib.error:
            raise InvalidInput("body is not valid gzip", "body") from None

    def finish(self) -> bytes:
        if not self._z.eof:
            raise InvalidInput("body is not valid gzip (truncated)", "body")
        return bytes(self._out)


async def read_bounded(chunks: AsyncIterator[bytes], content_length: str | None, gzip: bool, max_bytes: int) -> bytes:
    """The body, inflated when `gzip`; BodyTooLarge as soon as either size passes `max_bytes`.

    A declared Content-Length over the budget is refused before a byte is read.
    """
    if content_length and content_length.strip().isdigit() and int(content_length) > max_bytes:
        raise BodyTooLarge(max_bytes, "request")
    received = 0
    raw = bytearray()
    inflater = BoundedInflater(max_bytes) if gzip else None
    async for chunk in chunks:
        received += len(chunk)
        if received > max_bytes:
            raise BodyTooLarge(max_bytes, "request")
        if inflater is not None:
            inflater.feed(chunk)
        else:
            raw += chunk
    return inflater.finish() if inflater is not None else bytes(raw)
