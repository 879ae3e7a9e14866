"""Checks that misbehave on purpose, for the self-test runner's own tests."""

from __future__ import annotations

import asyncio

from agent.checks.base import CheckContext, Finding


async def check_slow(ctx: CheckContext) -> list[Finding]:
    await asyncio.sleep(30)
    return []


async def check_raises(ctx: CheckContext) -> list[Finding]:
    raise RuntimeError("broken on purpose")
