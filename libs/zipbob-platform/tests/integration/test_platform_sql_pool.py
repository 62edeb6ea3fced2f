"""zipbob_platform.sql.create_engine's pool, on each real SQL server: a burst beyond
``pool_size`` opens connections up to the cap, and those connections stay open for the
next burst instead of being closed as each one comes back (SQLAlchemy's overflow)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from zipbob_platform.sql import create_engine

pytestmark = pytest.mark.asyncio(loop_scope="module")
KEPT: list[object] = []  # every driver connection seen, so that ids stay unique


async def _driver_id(conn: AsyncConnection) -> int:
    """The id of the driver connection behind ``conn``, after a statement on it (kept
    alive in ``KEPT``, so no id is reused by a newer object)."""
    await conn.execute(text("SELECT 1"))
    driver = (await conn.get_raw_connection()).driver_connection
    KEPT.append(driver)
    return id(driver)


async def _burst(engine: AsyncEngine, width: int) -> set[int]:
    """``width`` connections checked out at once; the ids of their driver connections."""
    seen: set[int] = set()
    held = asyncio.Event()

    async def one() -> None:
        async with engine.connect() as conn:
            seen.add(await _driver_id(conn))
            if len(seen) == width:
                held.set()
            await held.wait()  # every one is checked out before any goes back

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(width))), timeout=30)
    return seen


async def test_a_burst_past_pool_size_keeps_the_connections_it_opened(sql_url: str) -> None:
    engine = create_engine(sql_url, pool_size=2, max_overflow=2, pre_ping=False)
    try:
        first = await _burst(engine, 4)
        assert len(first) == 4  # the cap: pool_size + max_overflow at once
        assert engine.pool.checkedin() == 4  # type: ignore[attr-defined]  # none closed
        second = await _burst(engine, 4)
        assert second == first  # the same four, not four new ones
    finally:
        await engine.dispose()


async def test_no_more_than_pool_size_plus_overflow_are_opened(sql_url: str) -> None:
    engine = create_engine(sql_url, pool_size=1, max_overflow=1, pre_ping=False)

    async def third() -> int:
        async with engine.connect() as conn:
            return await _driver_id(conn)

    try:
        a = await engine.connect()
        b = await engine.connect()
        held = {await _driver_id(a), await _driver_id(b)}
        waiting = asyncio.ensure_future(third())
        await a.close()  # the waiting checkout gets this one back
        await b.close()
        assert await asyncio.wait_for(waiting, timeout=30) in held  # not a third one
        assert engine.pool.checkedin() == 2  # type: ignore[attr-defined]
    finally:
        await engine.dispose()
