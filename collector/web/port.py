"""What the web layer needs from the collector's runtime: the one seam between them.

Every web module types the runtime as :class:`WebRuntime`, never as ``Any`` and never through its
lock or engine: the runtime's methods take the lock themselves. ``collector.runtime.Runtime``
satisfies this Protocol: mypy checks it at :func:`_runtime_is_a_web_runtime` below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from collector.config import CollectorConfig
    from collector.engine import Action
    from collector.engine.types import MeetingView
    from collector.store import Store
    from likavillkor import wire
    from likavillkor.policy import PolicySet
    from likavillkor.roster import Roster
    from likavillkor.topics import Kind


class WebRuntime(Protocol):
    """The runtime as the web layer sees it: views, actions, the roster, the clock, health."""

    config: CollectorConfig
    store: Store  # IT's pages and exports read the database through it (collector/web/queries.py)
    policies: PolicySet  # the self-test's RTT limits per body
    #: which optional parts loaded ("loaded" or why not), shown in /api/health
    optional_modules: dict[str, str]

    def clock(self) -> float: ...

    # -- reading --
    def roster(self) -> Roster: ...
    def meeting_ids(self) -> list[str]: ...
    def view(self, meeting_id: str) -> MeetingView | None: ...
    #: THE encoding of a meeting view: the API, the page and the event stream share it
    def view_json(self, meeting_id: str) -> bytes | None: ...
    def actions(self, meeting_id: str) -> list[Action]: ...
    def device_meetings(self, device_id: str) -> list[dict[str, Any]]: ...
    def probe_key(self, device_id: str) -> dict[str, Any] | None: ...
    def knows_device(self, device_id: str) -> bool: ...
    def health(self) -> dict[str, Any]: ...

    # -- writing --
    def act(self, action: Action) -> list[Any]: ...
    def ingest(self, kind: Kind, msg: wire.Message) -> str: ...
    def record_mediapath(self, device_id: str, meeting_id: str | None, result: dict[str, Any]) -> None: ...
    def companion(self, meeting_id: str, member_id: str, open_: bool) -> None: ...
    def on_change(self, listener: Callable[[list[Any]], None]) -> None: ...


if TYPE_CHECKING:
    from collector.runtime import Runtime

    def _runtime_is_a_web_runtime(runtime: Runtime) -> WebRuntime:
        return runtime  # mypy fails here when Runtime no longer satisfies the port
