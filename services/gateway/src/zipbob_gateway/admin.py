"""Operator commands. Admins are never created through signup:

ZIPBOB_ADMIN_PASSWORD=... python -m zipbob_gateway.admin create-admin --email a@b.c
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from pydantic import EmailStr, TypeAdapter, ValidationError

from .auth.models import ADMIN_ROLE
from .auth.passwords import hash_password
from .auth.repository import EmailTaken, UserRepository
from .auth.schemas import MIN_PASSWORD_LENGTH
from .db import create_engine, session_factory
from .settings import load_migration_settings


async def create_admin(*, url: str, email: str, password: str, display_name: str) -> str:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as session:
            user = await UserRepository(session).add(
                email=email,
                password_hash=await hash_password(password),
                display_name=display_name,
                role=ADMIN_ROLE,
            )
        return user.id
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zipbob_gateway.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create-admin", help="create an admin account")
    create.add_argument("--email", required=True)
    create.add_argument("--display-name", default="Administrator")
    args = parser.parse_args(argv)
    try:
        email = str(TypeAdapter(EmailStr).validate_python(args.email))
    except ValidationError:
        print(f"not a valid email: {args.email}", file=sys.stderr)
        return 2
    password = os.environ.get("ZIPBOB_ADMIN_PASSWORD") or getpass.getpass("admin password: ")
    if len(password) < MIN_PASSWORD_LENGTH:
        print(f"the password needs at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
        return 2
    settings = load_migration_settings()  # the database alone
    try:
        user_id = asyncio.run(
            create_admin(
                url=settings.database_url,
                email=email,
                password=password,
                display_name=args.display_name,
            )
        )
    except EmailTaken:
        print(f"an account with email {email} already exists", file=sys.stderr)
        return 1
    print(f"admin created: id={user_id} email={email}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
