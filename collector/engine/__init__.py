"""The equal-terms engine (issue 5): pure states, verdicts, incidents and actions.

No I/O and no clock: the collector passes its own time into every call. See ``docs/engine.md``.
"""

from collector.engine.engine import Engine
from collector.engine.types import (
    Action,
    ActionKind,
    ActionRecorded,
    Change,
    Incident,
    IncidentClosed,
    IncidentOpened,
    IncidentUpdated,
    IngestOutcome,
    MeetingView,
    ParticipantState,
    ParticipantView,
    Reason,
    SelftestSummary,
    StateChanged,
    Verdict,
    VerdictChanged,
)

__all__ = [
    "Action",
    "ActionKind",
    "ActionRecorded",
    "Change",
    "Engine",
    "Incident",
    "IncidentClosed",
    "IncidentOpened",
    "IncidentUpdated",
    "IngestOutcome",
    "MeetingView",
    "ParticipantState",
    "ParticipantView",
    "Reason",
    "SelftestSummary",
    "StateChanged",
    "Verdict",
    "VerdictChanged",
]
