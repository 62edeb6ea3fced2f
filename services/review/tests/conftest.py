# Makes review_factories importable from this suite's tests (pytest runs in importlib mode).
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import pytest
from review_factories import CatalogStub, drop_database, review_settings

from zipbob_devkit.testing import unique_name


@pytest.fixture(scope="module")
async def catalog():
    """A real HTTP server standing in for the catalog, whose answers each test controls."""
    stub = CatalogStub()
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture(scope="module")
async def database(mongo_url, request):
    """A fresh MongoDB database per test module, dropped afterwards."""
    name = unique_name(f"zb_{request.module.__name__.rsplit('.', 1)[-1].removeprefix('test_')}")
    yield name
    await drop_database(mongo_url, name)


@pytest.fixture
def make_settings(mongo_url, redis_url, catalog, database):
    """``make_settings(redis=None, **review)``: the suite's ReviewSettings for this test's
    catalog stub (the module's own ``catalog`` fixture where it has one) and database."""

    def build(redis: str | None = None, **review):
        return review_settings(
            mongo_url=mongo_url,
            redis_url=redis or redis_url,
            catalog_url=catalog.url,
            database=database,
            **review,
        )

    return build
