"""Timing a product query beside a hand-written SQL query that gives the same answer, in the
same run: the two alternate, so a busy machine slows both alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

# The product may cost at most this much more than the hand-written query (issue 15).
BOUND = 1.5


async def paired(product: Callable[[], Awaitable[Any]], reference: Callable[[], Awaitable[Any]],
                 repeat: int = 9) -> tuple[float, float, Any, Any]:
    """Median milliseconds of each, and the last result of each (after a first untimed
    call of each: the pages they read are in the cache for both)."""
    await product()
    await reference()
    times: tuple[list[float], list[float]] = ([], [])
    results: list[Any] = [None, None]
    for _ in range(repeat):
        for i, call in enumerate((product, reference)):
            began = time.perf_counter()
            results[i] = await call()
            times[i].append((time.perf_counter() - began) * 1000)
    return statistics.median(times[0]), statistics.median(times[1]), results[0], results[1]


def line(label: str, product_ms: float, reference_ms: float, note: str = "") -> str:
    """One printed figure: both times and their ratio, flagged when over the bound."""
    ratio = product_ms / reference_ms if reference_ms else float("inf")
    flag = "" if ratio <= BOUND else f"  OVER {BOUND}x"
    return (f"{label}: product {product_ms:6.1f} ms, hand-written SQL {reference_ms:6.1f} ms, "
            f"ratio {ratio:.2f}{flag}" + (f"  ({note})" if note else ""))
