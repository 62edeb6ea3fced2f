"""Recompute every product's rating from the review service's public API.

``python -m zipbob_catalog.ratings rebuild --review-url http://127.0.0.1:8082`` walks all
products in id order (keyset pages), asks ``GET /api/products/{id}/reviews/summary`` for
each (``--concurrency`` at a time) and overwrites the read model with the answer: the
repair for a lost or corrupt read model. The summary endpoint carries no version, so the
stored ``rating_version`` is kept (raised to the answer's ``version`` when it has one):
events newer than the rebuild still apply; an older event redelivered afterwards could
only arrive if its id was never recorded, which dedup prevents.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import aiohttp
from sqlalchemy import case, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zipbob_catalog.products.models import Product
from zipbob_platform.backoff import Backoff

log = logging.getLogger("zipbob.catalog.ratings")


@dataclass
class RebuildReport:
    products: int = 0
    changed: int = 0
    failed: int = 0


class ReviewClient:
    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")

    async def summary(self, product_id: str) -> dict[str, object] | None:
        url = f"{self.base_url}/api/products/{product_id}/reviews/summary"
        backoff = Backoff(0.2, 0.8)
        for _ in range(3):
            try:
                async with self.session.get(url) as response:
                    if response.status == 404:
                        return {"count": 0, "average": None}
                    if response.status == 200:
                        return await response.json()  # type: ignore[no-any-return]
                    if response.status < 500 and response.status != 429:
                        return None
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(backoff.fail())
        return None


def _hundredths(summary: dict[str, object]) -> tuple[int, int]:
    count = int(summary.get("count") or 0)  # type: ignore[call-overload]
    average = summary.get("average")
    if not count or average is None:
        return 0, 0
    return round(float(average) * 100), count  # type: ignore[arg-type]


async def rebuild_ratings(
    *,
    sessions: async_sessionmaker[AsyncSession],
    review_url: str,
    concurrency: int = 16,
    batch: int = 500,
    timeout_seconds: float = 10.0,
) -> RebuildReport:
    report = RebuildReport()
    timeout = aiohttp.ClientTimeout(total=timeout_seconds)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        client = ReviewClient(http, review_url)
        limit = asyncio.Semaphore(concurrency)

        async def fetch(product_id: str) -> tuple[str, dict[str, object] | None]:
            async with limit:
                return product_id, await client.summary(product_id)

        after = ""
        while True:
            async with sessions() as session:
                rows = (
                    await session.execute(
                        select(Product.id, Product.rating_hundredths, Product.rating_count)
                        .where(Product.id > after)
                        .order_by(Product.id)
                        .limit(batch)
                    )
                ).all()
            if not rows:
                return report
            after = rows[-1].id
            current = {row.id: (row.rating_hundredths, row.rating_count) for row in rows}
            answers = await asyncio.gather(*(fetch(row.id) for row in rows))
            async with sessions() as session, session.begin():
                for product_id, summary in answers:
                    report.products += 1
                    if summary is None:
                        report.failed += 1
                        continue
                    hundredths, count = _hundredths(summary)
                    version = summary.get("version")
                    values: dict[str, object] = {
                        "rating_hundredths": hundredths,
                        "rating_count": count,
                    }
                    if isinstance(version, int):
                        values["rating_version"] = case(
                            (Product.rating_version < version, version),
                            else_=Product.rating_version,
                        )
                    if current[product_id] == (hundredths, count) and len(values) == 2:
                        continue
                    await session.execute(
                        update(Product).where(Product.id == product_id).values(**values)
                    )
                    report.changed += 1
            log.info("rating rebuild: %d products so far", report.products)
