"""Alembic environment: the gateway's tables, migrated on the connection handed in."""

from zipbob_gateway.auth.models import User  # noqa: F401 - registers the table
from zipbob_gateway.db import Base
from zipbob_platform.sql import run_migrations

run_migrations(Base.metadata)
