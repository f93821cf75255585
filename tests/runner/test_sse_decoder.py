"""The runner's SSE decoder (services/runner/backends/sse.py): the SDK's decoder's events, minus the skipped ones."""
import json

from openai._streaming import SSEDecoder

from services.runner.backends.sse import SkippingDecoder

EVENTS = [("response.created", {"type": "response.created", "response": {"id": "resp_1"}}),
          ("response.function_call_arguments.delta", {"delta": "{\"name\": \"Le"}),
          ("response.function_call_arguments.done", {"arguments": "{\"name\": \"Leek\"}", "text": "é ünïcode"}),
          ("response.completed", {"type": "response.completed", "response": {"id": "resp_1"}})]
BODY = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in EVENTS).encode()
SKIP = frozenset({"response.function_call_arguments.delta"})


def _events(decoder, chunks):
    return [(e.event, e.data) for e in decoder.iter_bytes(iter(chunks))]


def _sdk(chunks, skip=frozenset()):
    return [e for e in _events(SSEDecoder(), chunks) if e[0] not in skip]


def _split(body, size):
    return [body[i:i + size] for i in range(0, len(body), size)]


def test_every_event_the_sdk_decodes_wherever_the_chunks_split_the_body():
    for size in (1, 2, 3, 7, 64, len(BODY)):
        assert _events(SkippingDecoder(), _split(BODY, size)) == _sdk(_split(BODY, size))


def test_a_skipped_event_is_dropped_and_the_others_keep_their_order():
    for size in (1, 5, len(BODY)):
        kept = _events(SkippingDecoder(SKIP), _split(BODY, size))
        assert [name for name, _ in kept] == ["response.created", "response.function_call_arguments.done",
                                              "response.completed"]
        assert kept == _sdk([BODY], SKIP)


def test_comments_several_data_lines_fields_without_a_space_and_blank_lines_as_the_sdk_reads_them():
    body = (b": keep-alive\n\n\n\nevent:thread.run.created\ndata: {\"a\":\ndata: 1}\nid: 7\n\n"
            b"data: [DONE]\n\nevent: response.function_call_arguments.delta\ndata: {}\n\n")
    assert _events(SkippingDecoder(SKIP), [body]) == _sdk([body], SKIP) == [
        ("thread.run.created", "{\"a\":\n1}"), (None, "[DONE]")]


def test_crlf_line_ends_are_read_by_the_sdk_decoder_from_that_chunk_on_with_the_same_skips():
    crlf = BODY.replace(b"\n", b"\r\n")
    head, rest = BODY[:BODY.index(b"\n\n") + 2], crlf[BODY.index(b"\n\n") + 4:]
    for chunks in ([crlf], _split(crlf, 3), [head, *_split(rest, 5)]):
        assert _events(SkippingDecoder(SKIP), chunks) == _sdk([BODY], SKIP)


def test_an_event_without_its_closing_blank_line_is_not_dispatched_as_with_the_sdk():
    torn = BODY + b"event: response.completed\ndata: {\"type\": \"resp"
    assert _events(SkippingDecoder(), [torn]) == _sdk([torn]) == _sdk([BODY])
