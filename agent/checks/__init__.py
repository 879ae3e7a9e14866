"""Self-test checks. Each check is ``async def check_x(ctx: CheckContext) -> list[Finding]``."""
