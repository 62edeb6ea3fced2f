"""The list page cache's own rules (products.pagecache), on a clock the test moves.

The loads here are coroutines returning ProductPage values built in the test: the cache
never looks inside a page but for its row count, and these rules (expiry, a write's
invalidation, one load for concurrent requests, a failed load not kept, the row bound)
are the cache's alone. The same cache in front of the real databases is tested in
integration/test_catalog_list_cache.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from zipbob_catalog.products.pagecache import PageCache
from zipbob_catalog.products.repository import ProductPage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Row:
    id: str
    load: int  # which call of Loads made it


def page(ids: list[str], call: int) -> ProductPage:
    rows = [Row(product_id, call) for product_id in ids]
    return ProductPage(page=1, rows=rows, images={}, total=len(rows), total_exact=True,
                       next_cursor=None)  # fmt: skip


def made_by(answer: ProductPage) -> int:
    return answer.rows[0].load


class Loads:
    """Counts its calls; each answers a new page of the products ``ids``."""

    def __init__(self, ids: list[str] | None = None) -> None:
        self.calls = 0
        self.ids = ["p1", "p2"] if ids is None else ids
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def __call__(self) -> ProductPage:
        self.calls += 1
        call = self.calls
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return page(self.ids, call)


async def test_a_page_is_kept_for_its_seconds_then_loaded_again() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    first = await cache.page("k", loads, by_rating=False)
    clock.now += 0.99
    assert await cache.page("k", loads, by_rating=False) is first
    assert loads.calls == 1
    clock.now += 0.02
    again = await cache.page("k", loads, by_rating=False)
    assert loads.calls == 2 and made_by(again) == 2
    assert await cache.page("other", loads, by_rating=False) is not again  # keys are separate
    assert loads.calls == 3


async def test_a_write_drops_every_page_and_a_load_it_overtook_is_not_kept() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    await cache.page("a", loads, by_rating=False)
    await cache.page("b", loads, by_rating=False)
    cache.invalidate()
    assert len(cache) == 0
    await cache.page("a", loads, by_rating=False)
    assert loads.calls == 3

    loads.gate = asyncio.Event()
    started = asyncio.create_task(cache.page("c", loads, by_rating=False))
    await asyncio.sleep(0)  # the load has begun: it read before the write below
    cache.invalidate()
    loads.gate.set()
    answered = await started
    assert made_by(answered) == 4  # its own request gets what it read...
    assert "c" not in cache._kept  # ...but it is not kept for anyone else
    await cache.page("c", loads, by_rating=False)
    assert loads.calls == 5


async def test_concurrent_requests_for_one_page_share_one_load() -> None:
    loads = Loads()
    loads.gate = asyncio.Event()
    cache = PageCache(seconds=1.0, max_rows=100, clock=Clock())
    waiting = [asyncio.create_task(cache.page("k", loads, by_rating=False)) for _ in range(32)]
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
    waiting = [asyncio.create_task(cache.page("k", loads, by_rating=False)) for _ in range(3)]
    await asyncio.sleep(0)
    loads.gate.set()
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    assert loads.calls == 1 and len(cache) == 0
    loads.error, loads.gate = None, None
    assert made_by(await cache.page("k", loads, by_rating=False)) == 2


async def test_a_leader_that_leaves_does_not_cancel_the_load_others_wait_for() -> None:
    loads = Loads()
    loads.gate = asyncio.Event()
    cache = PageCache(seconds=1.0, max_rows=100, clock=Clock())
    leader = asyncio.create_task(cache.page("k", loads, by_rating=False))
    await asyncio.sleep(0)
    follower = asyncio.create_task(cache.page("k", loads, by_rating=False))
    await asyncio.sleep(0)
    leader.cancel()  # its client went away
    await asyncio.sleep(0)
    loads.gate.set()
    assert made_by(await follower) == 1
    assert leader.cancelled() and loads.calls == 1


async def _settled() -> None:
    for _ in range(5):  # a background reload: its task, then its load, then its keep
        await asyncio.sleep(0)


async def test_a_hit_late_in_a_pages_life_reloads_it_in_the_background() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    first = await cache.page("k", loads, by_rating=False, refresh_ahead=True)
    clock.now += 0.5
    assert await cache.page("k", loads, by_rating=False, refresh_ahead=True) is first
    await _settled()
    assert loads.calls == 1  # early in its life: a plain hit

    loads.gate = asyncio.Event()
    clock.now += 0.35  # past four fifths of its second
    assert await cache.page("k", loads, by_rating=False, refresh_ahead=True) is first
    assert await cache.page("k", loads, by_rating=False, refresh_ahead=True) is first
    await _settled()
    assert loads.calls == 2  # one reload, however many hits meanwhile; none of them waited
    clock.now += 0.2  # the kept page's second is over while the reload still runs
    waiting = asyncio.create_task(cache.page("k", loads, by_rating=False, refresh_ahead=True))
    await _settled()
    assert not waiting.done()  # never served past its seconds: it waits for the reload
    loads.gate.set()
    again = await waiting
    assert made_by(again) == 2 and loads.calls == 2
    assert await cache.page("k", loads, by_rating=False, refresh_ahead=True) is again


async def test_a_background_reload_that_fails_or_overlaps_a_write_is_not_kept() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    first = await cache.page("k", loads, by_rating=False, refresh_ahead=True)
    loads.error = ConnectionError("database gone")
    clock.now += 0.9
    assert await cache.page("k", loads, by_rating=False, refresh_ahead=True) is first
    await _settled()
    assert loads.calls == 2 and cache._kept["k"].page is first  # kept until its second ends
    clock.now += 0.2
    with pytest.raises(ConnectionError):  # then the next request sees the error itself
        await cache.page("k", loads, by_rating=False, refresh_ahead=True)

    loads.error, loads.gate = None, asyncio.Event()
    await_first = asyncio.create_task(cache.page("k", loads, by_rating=False, refresh_ahead=True))
    loads.gate.set()
    kept = await await_first
    loads.gate = asyncio.Event()
    clock.now += 0.9
    assert await cache.page("k", loads, by_rating=False, refresh_ahead=True) is kept
    await asyncio.sleep(0)  # the reload has begun: it read before the write below
    cache.product_changed("p1", rating=False)
    loads.gate.set()
    await _settled()
    assert "k" not in cache._kept  # the write dropped the page and the reload is not kept


async def test_closing_stops_the_reloads_under_way() -> None:
    clock, loads = Clock(), Loads()
    cache = PageCache(seconds=1.0, max_rows=100, clock=clock)
    await cache.page("k", loads, by_rating=False, refresh_ahead=True)
    loads.gate = asyncio.Event()  # never set: a reload that would hang on
    clock.now += 0.9
    await cache.page("k", loads, by_rating=False, refresh_ahead=True)
    await _settled()
    assert loads.calls == 2 and cache._loading
    await cache.close()
    assert not cache._loading


async def test_rows_are_bounded_least_recently_used_first() -> None:
    clock, loads = Clock(), Loads(["p1", "p2", "p3", "p4"])
    cache = PageCache(seconds=60.0, max_rows=10, clock=clock)
    await cache.page("a", loads, by_rating=False)
    await cache.page("b", loads, by_rating=False)
    await cache.page("a", loads, by_rating=False)  # a is now the most recently used
    await cache.page("c", loads, by_rating=False)  # 12 rows > 10: b goes
    assert set(cache._kept) == {"a", "c"} and cache._rows == 8
    calls = loads.calls
    await cache.page("a", loads, by_rating=False)
    assert loads.calls == calls
    empty = Loads([])
    for n in range(50):  # a client inventing queries that match nothing
        await cache.page(f"nothing {n}", empty, by_rating=False)
    assert cache._rows <= 10 and len(cache) <= 10
    big = Loads([f"p{n}" for n in range(11)])
    await cache.page("big", big, by_rating=False)  # over the whole bound: answered, not kept
    assert "big" not in cache._kept


async def test_zero_seconds_is_off() -> None:
    loads = Loads()
    cache = PageCache(seconds=0, max_rows=100, clock=Clock())
    await cache.page("k", loads, by_rating=False)
    await cache.page("k", loads, by_rating=False)
    assert loads.calls == 2 and len(cache) == 0


async def test_a_products_change_drops_the_pages_showing_it_and_ratings_the_rated_ones() -> None:
    cache = PageCache(seconds=60.0, max_rows=100, clock=Clock())
    await cache.page("with p1", Loads(["p1", "p2"]), by_rating=False)
    await cache.page("without p1", Loads(["p3"]), by_rating=False)
    await cache.page("by rating", Loads(["p4"]), by_rating=True)
    cache.product_changed("p1", rating=False)  # its photo is ready
    assert set(cache._kept) == {"without p1", "by rating"}
    cache.product_changed("p9", rating=False)  # on no kept page
    assert set(cache._kept) == {"without p1", "by rating"}
    cache.product_changed("p9", rating=True)  # may now enter any rating order or filter
    assert set(cache._kept) == {"without p1"}
    cache.product_changed("p3", rating=True)
    assert len(cache) == 0 and cache._showing == {} and cache._by_rating == set()


async def test_a_load_overlapping_a_change_is_kept_only_if_the_change_cannot_touch_it() -> None:
    cache = PageCache(seconds=60.0, max_rows=100, clock=Clock())

    async def overlapped(ids: list[str], change: str, *, rating: bool, by_rating: bool) -> bool:
        loads = Loads(ids)
        loads.gate = asyncio.Event()
        key = (tuple(ids), change, rating, by_rating)
        started = asyncio.create_task(cache.page(key, loads, by_rating=by_rating))
        await asyncio.sleep(0)
        cache.product_changed(change, rating=rating)
        loads.gate.set()
        await started
        return key in cache._kept

    assert await overlapped(["p1"], "p2", rating=False, by_rating=False)
    assert await overlapped(["p1"], "p2", rating=True, by_rating=False)
    assert not await overlapped(["p1"], "p1", rating=False, by_rating=False)
    assert not await overlapped(["p1"], "p2", rating=True, by_rating=True)
    assert await overlapped(["p1"], "p2", rating=False, by_rating=True)


async def test_a_load_older_than_the_change_log_is_not_kept() -> None:
    cache = PageCache(seconds=60.0, max_rows=100, clock=Clock())
    loads = Loads(["p1"])
    loads.gate = asyncio.Event()
    started = asyncio.create_task(cache.page("k", loads, by_rating=False))
    await asyncio.sleep(0)
    for n in range(PageCache.MAX_CHANGES + 1):  # none touches p1, but the log forgot some
        cache.product_changed(f"other {n}", rating=False)
    loads.gate.set()
    await started
    assert "k" not in cache._kept


async def test_an_alias_and_its_own_seconds() -> None:
    clock, loads = Clock(), Loads(["p1"])
    cache = PageCache(seconds=1.0, walk_seconds=60.0, max_rows=100, clock=clock)
    first = await cache.page(
        "first page", loads, by_rating=False, alias=lambda _: "walk", alias_seconds=60.0
    )
    clock.now += 30
    assert await cache.page("walk", loads, by_rating=False) is first  # kept 60 s
    assert await cache.page("first page", loads, by_rating=False) is not first  # 1 s
    assert loads.calls == 2
    clock.now += 31
    await cache.page("walk", loads, by_rating=False, seconds=60.0)
    assert loads.calls == 3
    clock.now += 59
    await cache.page("walk", loads, by_rating=False)
    assert loads.calls == 3  # its own seconds held
    assert cache.walk_seconds == 60.0
    assert PageCache(seconds=2.0, max_rows=1).walk_seconds == 2.0


def test_a_ranking_the_database_cut_short_is_an_error_not_a_shorter_walk() -> None:
    from types import SimpleNamespace

    from zipbob_catalog.products.repository import Ranked

    whole = Ranked.of("mariadb", SimpleNamespace(ids="a,b,c", n=3, snap="t"))
    assert whole.ids == ("a", "b", "c") and whole.snapshot == "t"
    with pytest.raises(RuntimeError, match="group_concat_max_len"):
        Ranked.of("mariadb", SimpleNamespace(ids="a,b", n=3, snap="t"))
    scored = Ranked.of("sqlite", SimpleNamespace(ids="7:1.5,9:2.5,8:1.5", n=3, snap=9))
    assert scored.ids == (9, 8, 7)  # best score first, then the newest rowid
    assert Ranked.of("postgresql", SimpleNamespace(ids=None, n=0, snap=None)).ids == ()
