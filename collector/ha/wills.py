"""Dating a last will with several brokers (issue 17): pure, for the engine's ``_will_fresh``.

With two brokers an agent that leaves a hung or unreachable broker for the other one leaves its
session - and its last will - behind. The first broker publishes that will (``offline``, reason
``will``) when it notices the loss, which can be long after the agent is ``online`` on the other
broker; collectors subscribe to both and would read it as the member's contact lost (H15).

The agent sets a fresh will for every connection attempt (``agent.mqtt``): the will takes the next
status ``seq`` right before the CONNECT, and the ``online`` of that connection the one after it.
So a will is the current one while no status of its boot with a ``seq`` above ``will.seq + 1``
has been heard; once such a status (the ``online`` of a later connection, on any broker) has
been heard, the will belongs to a connection the agent has already left behind, and it is no loss.
The engine applies this only when the collector listens to several brokers
(``FreshnessRules.several_brokers``): with one broker an agent from before the broker list, which
kept one will per boot (its first connect's seq), would otherwise have its real loss after a
reconnect read as "superseded" (tests/scenarios/last_will).
"""

from __future__ import annotations


def will_superseded(will_seq: int, newest_status_seq: int | None) -> bool:
    """True when the will belongs to an earlier connection than a status already heard from the
    same boot (``newest_status_seq``: the highest status seq of that boot heard so far)."""
    return newest_status_seq is not None and newest_status_seq > will_seq + 1
