"""The hot reads' statements run on the driver's own connection, rows as named tuples.

Measured on the catalog's GET by id (PostgreSQL, CPU per call): asyncpg alone 0.18 ms,
the same statement through SQLAlchemy's async ``Connection.execute`` 0.9 ms (greenlet
switches, execution context, cursor wrapper, Row metadata). A ``RawStatement`` is a Core
statement compiled once per dialect; each call checks a connection out through the engine
as before (same pool, same AUTOCOMMIT options), hands the positional parameters to the
driver after SQLAlchemy's own bind processors, and applies the columns' own result
processors (money, UTC datetimes, JSON as each dialect needs), so the values are the ones
``execute`` returns. A driver it does not know goes through ``execute`` unchanged. A driver
error is raised as SQLAlchemy's ``DBAPIError``, a dead connection invalidated as SQLAlchemy
does.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

Processor = Callable[[Any], Any] | None
_PROBE = text("SELECT 1")


@dataclass(frozen=True, slots=True)
class _Compiled:
    sql: str
    names: tuple[str, ...]
    binds: tuple[Processor, ...]
    defaults: Mapping[str, Any]
    results: tuple[tuple[int, Callable[[Any], Any]], ...]


class RawStatement:
    """A Core SELECT run as plain SQL on the driver; rows are ``row_type`` tuples whose
    attributes are the statement's column keys (as a SQLAlchemy Row's are)."""

    def __init__(self, statement: Any) -> None:
        self.statement = statement
        keys = [column.key for column in statement.selected_columns]
        self.row_type: Any = namedtuple("RawRow", keys)  # type: ignore[misc]
        self._compiled: dict[Dialect, _Compiled] = {}

    def _compile(self, dialect: Dialect) -> _Compiled:
        compiled = self.statement.compile(dialect=dialect)
        names = tuple(compiled.positiontup or ())
        binds = tuple(
            compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect)
            for name in names
        )
        defaults = {
            name: bind.value for name, bind in compiled.binds.items() if bind.value is not None
        }
        results = []
        for index, column in enumerate(self.statement.selected_columns):
            processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
            if processor is not None:
                results.append((index, processor))
        found = _Compiled(compiled.string, names, binds, defaults, tuple(results))
        self._compiled[dialect] = found
        return found

    async def fetch(self, conn: AsyncConnection, params: Mapping[str, Any]) -> list[Any]:
        dialect = conn.dialect
        compiled = self._compiled.get(dialect) or self._compile(dialect)
        runner = _RUNNERS.get(dialect.driver)
        if runner is None:
            return await self._through_sqlalchemy(conn, params)
        args = []
        for name, processor in zip(compiled.names, compiled.binds, strict=True):
            value = params[name] if name in params else compiled.defaults[name]
            args.append(processor(value) if processor is not None else value)
        raw = await conn.get_raw_connection()
        try:
            rows = await runner(raw.driver_connection, compiled.sql, args)
        except Exception as exc:
            # Not run again (a timed-out statement would only cost the database twice).
            # Was it the connection? ``SELECT 1`` the ordinary way tells: on a dead one
            # SQLAlchemy raises its DBAPIError and invalidates the pool, as for any
            # disconnect; on a live one this raises the driver's error as a DBAPIError.
            # Either way the app answers 503 + Retry-After.
            await conn.execute(_PROBE)
            raise DBAPIError(compiled.sql, args, exc) from exc
        make = self.row_type._make
        if not compiled.results:
            return [make(row) for row in rows]
        out = []
        for row in rows:
            values = list(row)
            for index, processor in compiled.results:
                values[index] = processor(values[index])
            out.append(make(values))
        return out

    async def _through_sqlalchemy(
        self, conn: AsyncConnection, params: Mapping[str, Any]
    ) -> list[Any]:
        result = await conn.execute(self.statement, dict(params))
        make = self.row_type._make
        return [make(row) for row in result.all()]


async def _asyncpg(driver: Any, sql: str, args: Sequence[Any]) -> Any:
    return await driver.fetch(sql, *args)


async def _asyncmy(driver: Any, sql: str, args: Sequence[Any]) -> Any:
    async with driver.cursor() as cursor:
        await cursor.execute(sql, args)
        return await cursor.fetchall()


async def _aiosqlite(driver: Any, sql: str, args: Sequence[Any]) -> Any:
    return await driver.execute_fetchall(sql, args)  # one hop to the driver's thread


_RUNNERS: dict[str, Callable[[Any, str, Sequence[Any]], Any]] = {
    "asyncpg": _asyncpg,
    "asyncmy": _asyncmy,
    "aiosqlite": _aiosqlite,
}
