"""Users in SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from .models import User


class EmailTaken(Exception):
    pass


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def by_email(self, email: str) -> User | None:
        result = await self.session.execute(select(User).where(User.email == email.lower()))
        return result.scalar_one_or_none()

    async def by_id(self, user_id: str) -> User | None:
        return await self.session.get(User, user_id)

    async def add(self, *, email: str, password_hash: str, display_name: str, role: str) -> User:
        user = User(
            id=str(uuid.uuid4()),
            email=email.lower(),
            password_hash=password_hash,
            display_name=display_name,
            role=role,
            created_at=datetime.now(UTC),
        )
        self.session.add(user)
        try:
            await self.session.commit()
        except IntegrityError:
            await self.session.rollback()
            raise EmailTaken(email) from None
        return user
