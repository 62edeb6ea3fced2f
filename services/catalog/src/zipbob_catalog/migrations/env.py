"""Alembic environment: the catalog's tables, migrated on the connection handed in."""

from zipbob_catalog.db import Base
from zipbob_platform.sql import run_migrations

run_migrations(Base.metadata)
