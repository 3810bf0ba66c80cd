"""A loopback HTTP server for the benchmark: serves each stream one chunk per network write.

It runs in its own process (``python -m bench.server PORT``) so that the server's CPU time
is never counted against the client being measured. uvicorn does the HTTP.
"""

from __future__ import annotations

import sys
from typing import Any

from bench.streams import all_streams

STREAMS = all_streams()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    while (await receive()).get("more_body"):
        pass
    stream = STREAMS.get(path)
    if stream is None:
        await send(
            {"type": "http.response.start", "status": 404, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": f"no stream at {path}".encode()})
        return
    headers = [(b"content-type", stream.content_type.encode()), (b"x-inference-provider", b"bench")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for chunk in stream.chunks:
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    import uvicorn

    port = int(sys.argv[1])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
