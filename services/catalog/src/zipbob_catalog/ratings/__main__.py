"""``python -m zipbob_catalog.ratings rebuild --review-url URL``: repair the rating read
model from the review service (see rebuild.py). The database comes from the catalog's
settings (``ZIPBOB_DATABASE__URL`` or config/catalog*.yaml), or ``--database-url``."""

from __future__ import annotations

import argparse
import asyncio
import sys

from zipbob_catalog.db import make_engine, make_session_factory
from zipbob_catalog.ratings.rebuild import rebuild_ratings


async def _rebuild(database_url: str, review_url: str, concurrency: int) -> int:
    engine = make_engine(database_url, pool_size=2)
    try:
        report = await rebuild_ratings(
            sessions=make_session_factory(engine), review_url=review_url, concurrency=concurrency
        )
    finally:
        await engine.dispose()
    print(
        f"rating rebuild: {report.products} products, {report.changed} changed, "
        f"{report.failed} could not be read from the review service"
    )
    return 1 if report.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zipbob_catalog.ratings")
    commands = parser.add_subparsers(dest="command", required=True)
    rebuild = commands.add_parser("rebuild", help="recompute every rating from the review API")
    rebuild.add_argument("--review-url", required=True, help="e.g. http://127.0.0.1:8082")
    rebuild.add_argument("--database-url", help="defaults to the catalog's settings")
    rebuild.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    database_url = args.database_url
    if not database_url:
        from zipbob_catalog.settings import load_catalog_settings

        database_url = load_catalog_settings().database.url.get_secret_value()
    return asyncio.run(_rebuild(database_url, args.review_url, args.concurrency))


if __name__ == "__main__":
    sys.exit(main())
