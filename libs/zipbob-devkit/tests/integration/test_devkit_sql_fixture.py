from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def test_each_backend_gives_an_empty_writable_database(sql_url: str) -> None:
    engine = create_async_engine(sql_url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE probe (id INTEGER PRIMARY KEY, name VARCHAR(20))"))
        await conn.execute(text("INSERT INTO probe (id, name) VALUES (1, 'x')"))
        count = (await conn.execute(text("SELECT COUNT(*) FROM probe"))).scalar_one()
    await engine.dispose()
    assert count == 1
