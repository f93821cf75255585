"""A faster SSE decoder for the SDK's ``Stream``, one that drops the events a backend never reads.

The openai SDK's own decoder (``openai._streaming.SSEDecoder``) splits the body line by line in
Python and its ``Stream`` then JSON-decodes every event; a Responses turn is mostly argument and
text deltas the runner never looks at (each call is taken whole at its ``.done`` event). Here the
body is split at blank lines with ``bytes.find``, an event whose name is in ``skip`` is dropped
before its data is decoded, and the rest become the SDK's ``ServerSentEvent``s, which the SDK's
``Stream`` reads as before: its error checks, its transport-error translation and its response
handling are unchanged. A body with a CR in it (SSE also allows CR and CRLF line ends) goes on
through the SDK's decoder from the first such chunk, with the same filter.
"""
from __future__ import annotations

from itertools import chain
from typing import AsyncIterator, Any, Iterator, Optional

from openai import OpenAI, Stream
from openai._streaming import ServerSentEvent, SSEDecoder


class SkippingDecoder:
    """An ``SSEBytesDecoder``: every event of the body in order, except those named in ``skip``."""

    def __init__(self, skip: frozenset[str] = frozenset()) -> None:
        self._skip = skip
        self._skip_heads = frozenset(f"event: {name}".encode() for name in skip)

    def iter_bytes(self, iterator: Iterator[bytes]) -> Iterator[ServerSentEvent]:
        buffer = bytearray()
        for chunk in iterator:
            if b"\r" in chunk:
                yield from self._sdk_decoded(chain((bytes(buffer), chunk), iterator))
                return
            searched = max(len(buffer) - 1, 0)  # a block's "\n\n" may straddle two chunks
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n\n", searched)) >= 0:
                event = self._event(buffer[start:end])
                if event is not None:
                    yield event
                start = searched = end + 2
            if start:
                del buffer[:start]
        # as the SDK's decoder: an event without its closing blank line is never dispatched

    def _event(self, block: bytearray) -> ServerSentEvent | None:
        line_end = block.find(b"\n")
        if bytes(block if line_end < 0 else block[:line_end]) in self._skip_heads:
            return None
        event: str | None = None
        data: list[str] = []
        for line in block.decode("utf-8").split("\n"):
            if not line or line.startswith(":"):  # a blank line before any field, or a comment
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event = value or None
            elif field == "data":
                data.append(value)
            # id and retry: the SDK's Stream reads neither
        if event is None and not data:
            return None
        if event in self._skip:
            return None
        return ServerSentEvent(event=event, data="\n".join(data))

    def _sdk_decoded(self, iterator: Iterator[bytes]) -> Iterator[ServerSentEvent]:
        for event in SSEDecoder().iter_bytes(iterator):
            if event.event not in self._skip:
                yield event

    def aiter_bytes(self, iterator: AsyncIterator[bytes]) -> AsyncIterator[ServerSentEvent]:
        raise NotImplementedError("the runner's SDK client is synchronous")


class SkippingStream(Stream[object]):
    """``Stream[object]`` (each event's data as plain JSON) without the events named in ``SKIP``;
    a subclass names its own. ``client.post(..., stream=True, stream_cls=TheSubclass)``."""

    SKIP: frozenset[str] = frozenset()

    def __init__(self, *, cast_to: type[object], response: Any, client: OpenAI, options: Optional[Any] = None) -> None:
        super().__init__(cast_to=cast_to, response=response, client=client, options=options)
        self._decoder = SkippingDecoder(self.SKIP)
