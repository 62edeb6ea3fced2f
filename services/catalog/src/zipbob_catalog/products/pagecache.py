"""List pages kept for a second: the near-real-time window of a search engine, per replica.

At a million products the database's cost of a list page is the page's ordering and its
``total`` (up to 10,001 index entries counted), and of a multi-word search the walk of
its postings (tens of ms of MariaDB CPU); the pages a shop's visitors ask for are few
(the first pages of the home page, of each category, of the popular searches) and asked
for hundreds of times a second. So each catalog process keeps the pages it answered
(``ProductPage``: rows, images, total, cursor — the database's answer, not the response;
image URLs are still signed per response), a search's ranked candidates (``Ranked``:
every page of a relevance walk slices the one list its snapshot names, where each page
used to walk the index again — a two-word search on MariaDB, 30-100 ms), on MariaDB
its term plan, and that a listing is past the exact total's bound (its first pages in
any sort then skip counting 10,001 rows), for ``list_cache.seconds`` (a walk's ranking
and "past the bound", which no new product can change, for ``list_cache.walk_seconds``;
a search's latest ranking, its total and term plan, which new first pages of that search
reuse, for ``list_cache.search_seconds``):

- a write this process commits drops the pages it may change: a seller's transaction
  (create, edit, delete, photos) every page, so a seller sees it on the next list; an
  image result the pages showing that product; a rating summary those and every page
  ordered or filtered by rating. A load that overlapped such a write answers its own
  request but is not kept when the write could have changed it;
- writes through another replica show on this one's list pages within
  ``list_cache.seconds`` (Elasticsearch's default refresh interval is the same second),
  and in its searches within ``list_cache.search_seconds`` (5 s: a search's first page
  re-ranked every second cost MariaDB tens of ms each time, half its CPU under the
  browse plan; Elasticsearch's indexing-speed guide too raises the refresh interval);
  a product by id (``GET /api/products/{id}``) is never cached here;
- concurrent requests for a page no one holds run one query between them (single
  flight): a popular page expiring under load costs one database query, not thirty-two;
- a page asked for in the last fifth of its life is reloaded in the background while that
  request gets the kept one (refresh ahead): a popular page never makes a request wait
  for the database, nor is it served past its seconds. Under bench_platform's plan at
  900 req/s, the slowest requests were search pages waiting on such a load (to 450 ms);
- at most ``list_cache.max_rows`` rows are held (an empty page counts one; the least
  recently used pages go first), so a client inventing queries cannot grow it;
  ``list_cache.seconds: 0`` turns it off.

``zipbob_catalog_list_pages_total{outcome}`` counts hits, misses and shared loads.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from zipbob_catalog.metrics import list_pages_total


class Keepable(Protocol):
    """What the cache holds: a page (repository.ProductPage), a search's ranked
    candidates (repository.Ranked) or its term plan; ``cost`` is what the row bound counts
    (a page: its rows)."""

    @property
    def cost(self) -> int: ...

    def product_ids(self) -> Iterable[str]:
        """The products whose data it shows (a change to one of them drops it)."""
        ...


T = TypeVar("T", bound=Keepable)


@dataclass(frozen=True, slots=True)
class _Kept:
    page: Keepable
    expires: float
    rows: int
    by_rating: bool  # ordered or filtered by rating: any rating change may change it
    refresh_at: float = float("inf")  # a request after this starts its reload (refresh ahead)


@dataclass(frozen=True, slots=True)
class _Change:
    seq: int
    product_id: str | None  # None: every page
    rating: bool


class PageCache:
    MAX_CHANGES = 1024  # a load older than this many writes is not kept
    REFRESH_AHEAD = 0.8  # of a page's seconds: a request after that reloads it in the background

    def __init__(
        self,
        *,
        seconds: float,
        max_rows: int,
        walk_seconds: float | None = None,
        search_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.walk_seconds = seconds if walk_seconds is None else walk_seconds
        self.search_seconds = seconds if search_seconds is None else search_seconds
        self.max_rows = max_rows
        self.clock = clock
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self._rows = 0
        self._showing: dict[str, set[Hashable]] = {}  # product id -> keys of pages with it
        self._by_rating: set[Hashable] = set()
        self._loading: dict[Hashable, asyncio.Future[Any]] = {}
        self._seq = 0
        self._changes: deque[_Change] = deque(maxlen=self.MAX_CHANGES)

    def invalidate(self) -> None:
        """A write that may change any page (a seller's): every page goes."""
        self._record(None, rating=False)
        self._kept.clear()
        self._showing.clear()
        self._by_rating.clear()
        self._rows = 0
        self._loading.clear()

    def product_changed(self, product_id: str, *, rating: bool) -> None:
        """One product's images (``rating=False``) or rating changed: the pages showing
        it go, and for a rating every page ordered or filtered by rating."""
        self._record(product_id, rating=rating)
        doomed = set(self._showing.get(product_id, ()))
        if rating:
            doomed |= self._by_rating
        for key in doomed:
            self._drop(key)

    def __len__(self) -> int:
        return len(self._kept)

    async def page(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[T]],
        *,
        by_rating: bool,
        alias: Callable[[T], Hashable | None] | None = None,
        seconds: float | None = None,
        alias_seconds: float | None = None,
        refresh_ahead: bool = False,
    ) -> T:
        """The value kept under ``key``, else ``load()``'s, kept ``seconds`` (default: the
        cache's), and also under ``alias(value)`` when given (another key the same answer
        belongs to) for ``alias_seconds``.

        ``refresh_ahead``: ``load`` holds nothing of the caller's (it takes its own
        connection), so it may outlive the request. A request in the last fifth of the
        value's life gets the value and starts its reload in the background, and a page
        asked for more often than its life ends never makes a request wait for the
        database. It is never served past its seconds."""
        if self.seconds <= 0:
            return await load()
        kept = self._kept.get(key)
        if kept is not None:
            now = self.clock()
            if kept.expires > now:
                self._kept.move_to_end(key)
                list_pages_total.labels("hit").inc()
                if kept.refresh_at <= now and key not in self._loading:
                    list_pages_total.labels("refresh").inc()
                    self._start(key, load, by_rating, alias, seconds, alias_seconds, True)
                return kept.page  # type: ignore[return-value]  # kept under the same key
            self._drop(key)
        loading = self._loading.get(key)
        if loading is not None:
            list_pages_total.labels("shared").inc()
            return await asyncio.shield(loading)
        list_pages_total.labels("miss").inc()
        task = self._start(key, load, by_rating, alias, seconds, alias_seconds, refresh_ahead)
        return await asyncio.shield(task)

    def _start(
        self,
        key: Hashable,
        load: Callable[[], Awaitable[T]],
        by_rating: bool,
        alias: Callable[[T], Hashable | None] | None,
        seconds: float | None,
        alias_seconds: float | None,
        refresh_ahead: bool,
    ) -> asyncio.Future[T]:
        """Run ``load()`` as the one load of ``key``, keeping its value when it is done,
        whether or not the request that started it is still there."""
        began = self._seq

        async def load_and_keep() -> T:
            try:
                page = await load()
            finally:
                if self._loading.get(key) is task:
                    del self._loading[key]
            if self._unchanged_since(began, page, by_rating=by_rating):
                now, rows = self.clock(), max(1, page.cost)
                life = seconds or self.seconds
                ahead = now + life * self.REFRESH_AHEAD if refresh_ahead else float("inf")
                self._keep(key, _Kept(page, now + life, rows, by_rating, ahead))
                also = alias(page) if alias is not None else None
                if also is not None and also != key:
                    expires = now + (alias_seconds or self.seconds)
                    self._keep(also, _Kept(page, expires, rows, by_rating))
            return page

        task = asyncio.ensure_future(load_and_keep())
        task.add_done_callback(_retrieved)  # its error is the leader's, even if it left
        self._loading[key] = task
        return task

    async def close(self) -> None:
        """Stop the loads under way (background reloads among them): the engine goes next."""
        loads = list(self._loading.values())
        self._loading.clear()
        for task in loads:
            task.cancel()
        await asyncio.gather(*loads, return_exceptions=True)

    def holds(self, key: Hashable) -> bool:
        """Whether a value is kept under ``key`` (and not expired)."""
        kept = self._kept.get(key)
        if kept is None or self.seconds <= 0:
            return False
        if kept.expires <= self.clock():
            self._drop(key)
            return False
        return True

    def mark(self) -> int:
        """Where the change log stands: give it to ``put`` for a value read after it."""
        return self._seq

    def put(self, key: Hashable, value: Keepable, *, began: int, by_rating: bool) -> None:
        """Keep a value read since ``began`` (``mark()``) for walk_seconds, unless a write
        since could have changed it."""
        if self.seconds <= 0 or not self._unchanged_since(began, value, by_rating=by_rating):
            return
        self._keep(key, _Kept(value, self.clock() + self.walk_seconds, max(1, value.cost),
                              by_rating))  # fmt: skip

    def _record(self, product_id: str | None, *, rating: bool) -> None:
        self._seq += 1
        self._changes.append(_Change(self._seq, product_id, rating))

    def _unchanged_since(self, began: int, page: Keepable, *, by_rating: bool) -> bool:
        """No write since ``began`` could have changed this page (read before it)."""
        if began == self._seq:
            return True
        if not self._changes or self._changes[0].seq > began + 1:
            return False  # the log no longer reaches back that far
        shown = set(page.product_ids())
        for change in self._changes:
            if change.seq <= began:
                continue
            if change.product_id is None or change.product_id in shown:
                return False
            if change.rating and by_rating:
                return False
        return True

    def _keep(self, key: Hashable, kept: _Kept) -> None:
        if kept.rows > self.max_rows:
            return
        self._drop(key)
        self._kept[key] = kept
        self._rows += kept.rows
        for product_id in kept.page.product_ids():
            self._showing.setdefault(product_id, set()).add(key)
        if kept.by_rating:
            self._by_rating.add(key)
        while self._rows > self.max_rows:
            self._drop(next(iter(self._kept)))

    def _drop(self, key: Hashable) -> None:
        kept = self._kept.pop(key, None)
        if kept is None:
            return
        self._rows -= kept.rows
        self._by_rating.discard(key)
        for product_id in kept.page.product_ids():
            keys = self._showing.get(product_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._showing[product_id]


def _retrieved(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
