"""The list page cache's own rules (products.pagecache), on a clock the test moves.

The loads here are coroutines returning ProductPage values built in the test: the cache
never looks inside a page but for its row count, and these rules (expiry, a write's
invalidation, one load for concurrent requests, a failed load not kept, the row bound)
are the cache's alone. The same cache in front of the real databases is tested in
integration/test_catalog_list_cache.py.
"""

from __future__ import annotations

import asyncio

from zipbob_catalog.products.pagecache import PageCache
from zipbob_catalog.products.repository import ProductPage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def page(rows: int, marker: int = 0) -> ProductPage:
    return ProductPage(page=1, rows=[marker] * rows, images={}, total=rows, total_exact=True,
                       next_cursor=None)  # fmt: skip


class Loads:
    """Counts its calls; each answers a new page (marker = call number)."""

    def __init__(self, rows: int = 2) -> None:
        self.calls = 0
        self.rows = rows
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> ProductPage:
        self.calls += 1
        call = self.calls
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return page(self.rows, call)


async def test_a_page_is_kept_for_its_seconds_then_loaded_again() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    first = await cache.page("k", loads)
    clock.now += 0.99
    assert await cache.page("k", loads) is first
    assert loads.calls == 1
    clock.now += 0.02
    again = await cache.page("k", loads)
    assert loads.calls == 2 and again.rows == [2, 2]
    assert await cache.page("other", loads) is not again  # keys are separate
    assert loads.calls == 3


async def test_a_write_drops_every_page_and_a_load_it_overtook_is_not_kept() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    await cache.page("a", loads)
    await cache.page("b", loads)
    cache.invalidate()
    assert len(cache) == 0
    await cache.page("a", loads)
    assert loads.calls == 3

    loads.gate = asyncio.Event()
    started = asyncio.create_task(cache.page("c", loads))
    await asyncio.sleep(0)  # the load has begun: it read before the write below
    cache.invalidate()
    loads.gate.set()
    answered = await started
    assert answered.rows == [4, 4]  # its own request gets what it read...
    assert "c" not in cache._kept  # ...but it is not kept for anyone else
    await cache.page("c", loads)
    assert loads.calls == 5


async def test_concurrent_requests_for_one_page_share_one_load() -> None:
    loads = Loads()
    loads.gate = asyncio.Event()
    cache = PageCache(seconds=1.0, max_rows=100, clock=Clock())
    waiting = [asyncio.create_task(cache.page("k", loads)) for _ in range(32)]
    await asyncio.sleep(0)
    loads.gate.set()
    answers = await asyncio.gather(*waiting)
    assert loads.calls == 1
    assert all(answer is answers[0] for answer in answers)


async def test_a_failed_load_reaches_every_waiter_and_is_not_kept() -> None:
    loads = Loads()
    loads.gate = asyncio.Event()
    loads.error = ConnectionError("database gone")
    cache = PageCache(seconds=1.0, max_rows=100, clock=Clock())
    waiting = [asyncio.create_task(cache.page("k", loads)) for _ in range(3)]
    await asyncio.sleep(0)
    loads.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert loads.calls == 1 and len(cache) == 0
    loads.error, loads.gate = None, None
    assert (await cache.page("k", loads)).rows == [2, 2]


async def test_a_leader_that_leaves_does_not_cancel_the_load_others_wait_for() -> None:
    loads = Loads()
    loads.gate = asyncio.Event()
    cache = PageCache(seconds=1.0, max_rows=100, clock=Clock())
    leader = asyncio.create_task(cache.page("k", loads))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache.page("k", loads))
    await asyncio.sleep(0)
    leader.cancel()  # its client went away
    await asyncio.sleep(0)
    loads.gate.set()
    assert (await follower).rows == [1, 1]
    assert leader.cancelled() and loads.calls == 1


async def test_rows_are_bounded_least_recently_used_first() -> None:
    clock, loads = Clock(), Loads(rows=4)
    cache = PageCache(seconds=60.0, max_rows=10, clock=clock)
    await cache.page("a", loads)
    await cache.page("b", loads)
    await cache.page("a", loads)  # a is now the most recently used
    await cache.page("c", loads)  # 12 rows > 10: b goes
    assert set(cache._kept) == {"a", "c"} and cache._rows == 8
    calls = loads.calls
    await cache.page("a", loads)
    assert loads.calls == calls
    empty = Loads(rows=0)
    for n in range(50):  # a client inventing queries that match nothing
        await cache.page(f"nothing {n}", empty)
    assert cache._rows <= 10 and len(cache) <= 10
    big = Loads(rows=11)
    await cache.page("big", big)  # larger than the whole bound: answered, not kept
    assert "big" not in cache._kept


async def test_zero_seconds_is_off() -> None:
    loads = Loads()
    cache = PageCache(seconds=0, max_rows=100, clock=Clock())
    await cache.page("k", loads)
    await cache.page("k", loads)
    assert loads.calls == 2 and len(cache) == 0
