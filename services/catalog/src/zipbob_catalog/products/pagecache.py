"""List pages kept for a second: the near-real-time window of a search engine, per replica.

At a million products the database's cost of a list page is the page's ordering and its
``total`` (up to 10,001 index entries counted), and of a multi-word search the walk of
its postings (tens of ms of MariaDB CPU); the pages a shop's visitors ask for are few
(the first pages of the home page, of each category, of the popular searches) and asked
for hundreds of times a second. So each catalog process keeps the pages it answered
(``ProductPage``: rows, images, total, cursor — the database's answer, not the response;
image URLs are still signed per response) for ``list_cache.seconds``:

- a write this process commits to products or images (a seller's transaction, an image
  result, a rating summary) drops every kept page at once, so a seller who registers,
  edits or deletes a product sees it on the next list; a load that began before such a
  write answers its own request but is not kept;
- writes through another replica show on this one's list pages within
  ``list_cache.seconds`` (Elasticsearch's default refresh interval is the same second);
  a product by id (``GET /api/products/{id}``) is never cached here;
- concurrent requests for a page no one holds run one query between them (single
  flight): a popular page expiring under load costs one database query, not thirty-two;
- at most ``list_cache.max_rows`` rows are held (an empty page counts one; the least
  recently used pages go first), so a client inventing queries cannot grow it;
  ``list_cache.seconds: 0`` turns it off.

``zipbob_catalog_list_pages_total{outcome}`` counts hits, misses and shared loads.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zipbob_catalog.metrics import list_pages_total

if TYPE_CHECKING:
    from zipbob_catalog.products.repository import ProductPage


@dataclass(frozen=True, slots=True)
class _Kept:
    page: ProductPage
    generation: int
    expires: float
    rows: int


class PageCache:
    def __init__(
        self,
        *,
        seconds: float,
        max_rows: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.max_rows = max_rows
        self.clock = clock
        self._kept: OrderedDict[Hashable, _Kept] = OrderedDict()
        self._rows = 0
        self._loading: dict[Hashable, asyncio.Future[ProductPage]] = {}
        self._generation = 0

    def invalidate(self) -> None:
        """A write this process committed: no page kept so far (or loading now) is kept."""
        self._generation += 1
        self._kept.clear()
        self._rows = 0
        self._loading.clear()

    def __len__(self) -> int:
        return len(self._kept)

    async def page(self, key: Hashable, load: Callable[[], Awaitable[ProductPage]]) -> ProductPage:
        if self.seconds <= 0:
            return await load()
        kept = self._kept.get(key)
        if kept is not None:
            if kept.expires > self.clock() and kept.generation == self._generation:
                self._kept.move_to_end(key)
                list_pages_total.labels("hit").inc()
                return kept.page
            self._drop(key)
        loading = self._loading.get(key)
        if loading is not None:
            list_pages_total.labels("shared").inc()
            return await asyncio.shield(loading)
        list_pages_total.labels("miss").inc()
        generation = self._generation
        task = asyncio.ensure_future(load())
        task.add_done_callback(_retrieved)  # its error is the leader's, even if it left
        self._loading[key] = task
        try:
            page = await asyncio.shield(task)
        finally:
            if self._loading.get(key) is task:
                del self._loading[key]
        if generation == self._generation:
            rows = max(1, len(page.rows))
            self._keep(key, _Kept(page, generation, self.clock() + self.seconds, rows))
        return page

    def _keep(self, key: Hashable, kept: _Kept) -> None:
        if kept.rows > self.max_rows:
            return
        self._drop(key)
        self._kept[key] = kept
        self._rows += kept.rows
        while self._rows > self.max_rows:
            _, oldest = self._kept.popitem(last=False)
            self._rows -= oldest.rows

    def _drop(self, key: Hashable) -> None:
        kept = self._kept.pop(key, None)
        if kept is not None:
            self._rows -= kept.rows


def _retrieved(task: asyncio.Future[ProductPage]) -> None:
    if not task.cancelled():
        task.exception()
