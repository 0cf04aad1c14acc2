"""bench/http_load.py, the serving benchmark's lean client: it must count answers and errors exactly
and refuse what it cannot read, against a real server process and against crafted responses."""

import asyncio
import importlib.util
import json
from pathlib import Path

import pytest

# Loaded by file path: putting bench/ on sys.path would let its module names shadow installed packages.
_SPEC = importlib.util.spec_from_file_location(
    "bench_http_load", Path(__file__).resolve().parents[2] / "bench" / "http_load.py"
)
http_load = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(http_load)


def _read(raw: bytes):
    async def go():
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await http_load.read_response(reader)

    return asyncio.run(go())


def test_reads_status_and_exactly_content_length_bytes():
    raw = b"HTTP/1.1 422 Unprocessable Entity\r\ncontent-type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}extra"
    assert _read(raw) == (422, b'{"a":1}')


@pytest.mark.parametrize("raw, message", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nabc", "no Content-Length"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x status line"),
])
def test_refuses_responses_it_cannot_count(raw, message):
    with pytest.raises(ValueError, match=message):
        _read(raw)


def test_post_json_is_a_well_formed_request():
    request = http_load.post_json(8000, "/v1/classify", {"texts": ["café"]})
    head, body = request.split(b"\r\n\r\n")
    assert head.startswith(b"POST /v1/classify HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head
    assert json.loads(body) == {"texts": ["café"]}


def test_load_counts_every_answer_and_every_error_from_concurrent_clients():
    """A small asyncio server answers 200 to even request numbers and 500 to odd ones."""

    async def go():
        seen = 0

        async def handle(reader, writer):
            nonlocal seen
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                                      if line.lower().startswith(b"content-length")))
                    await reader.readexactly(length)
                    status = 200 if seen % 2 == 0 else 500
                    seen += 1
                    writer.write(b"HTTP/1.1 %d X\r\nContent-Length: 2\r\n\r\n{}" % status)
                    await writer.drain()
            except asyncio.IncompleteReadError:
                writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            result = await http_load.load(port, [http_load.post_json(port, "/x", {"i": i}) for i in range(3)], 4, 50)
        return result, seen

    result, seen = asyncio.run(go())
    assert seen == result["requests"] == 50
    assert result["errors"] == 25
    assert result["throughput"] > 0 and result["p99"] >= result["p50"] > 0 and result["client_cpu_ms"] >= 0
