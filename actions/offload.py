"""Blocking work off the event loop: the action server serves every conversation on one loop, and
a database round trip or a Presidio pass run on it would stall all of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from frontdesk.core.db import Database

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

T = TypeVar("T")


async def in_transaction(db: Database, work: Callable[[Session], T]) -> T:
    """``work`` in one transaction, on a worker thread: the session, and the rows it loads, never
    leave that thread. What ``work`` raises is raised here (the transaction rolled back)."""

    def unit() -> T:
        with db.transaction() as session:
            return work(session)

    return await asyncio.to_thread(unit)
