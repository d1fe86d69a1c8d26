"""Small helpers for tests that talk HTTP on the loopback interface, or wait on a program that
runs on its own."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def post_json(url: str, body: object, headers: dict[str, str]) -> int:
    """POST a JSON body; return the HTTP status (errors included)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def eventually(check, what: str) -> None:
    """Wait (a bounded while: five seconds) for a program running on its own (a poller, the
    background loops) to get somewhere."""
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")
