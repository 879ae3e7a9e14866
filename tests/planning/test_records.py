"""Invitation records (H7) on SQLite and the real PostgreSQL: one row per sending, claimed before the
SMTP call so that two racing clicks never send twice; the migration creates the table."""

import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from collector.planning import records
from collector.store.db import connect_engine, migrate
from tests.support.databases import Postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> sa.Engine:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        pg: Postgres = request.getfixturevalue("postgres_server")
        url = pg.create_database(f"inv_{uuid.uuid4().hex[:8]}")
    eng = connect_engine(url)
    migrate(eng)
    return eng


def test_sendings_are_numbered_and_recorded(engine: sa.Engine) -> None:
    first = records.claim(engine, "ks-1", "anna", "anna@k.example", at=1.0, by="sara")
    records.finish(engine, first, ok=False, error="E-postservern svarade inte", at=2.0)
    again = records.claim(engine, "ks-1", "anna", "anna@k.example", at=3.0, by="sara")
    records.finish(engine, again, ok=True, at=4.0)
    got = records.for_meeting(engine, "ks-1")["anna"]
    assert [(x.sequence, x.status, x.error) for x in got] == [
        (0, "failed", "E-postservern svarade inte"),
        (1, "sent", None),
    ]


def test_a_second_click_while_sending_is_refused(engine: sa.Engine) -> None:
    records.claim(engine, "ks-1", "anna", "anna@k.example", at=1.0, by="sara")
    with pytest.raises(records.AlreadySending):
        records.claim(engine, "ks-1", "anna", "anna@k.example", at=1.1, by="sara")


def test_racing_claims_give_one_sending(engine: sa.Engine) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(4)

    def click() -> None:
        barrier.wait()
        try:
            records.claim(engine, "ks-1", "bo", "bo@k.example", at=1.0, by="sara")
            outcomes.append("claimed")
        except records.AlreadySending:
            outcomes.append("refused")

    threads = [threading.Thread(target=click) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["claimed"] + ["refused"] * 3
    assert len(records.for_meeting(engine, "ks-1")["bo"]) == 1


def test_a_form_posted_again_names_a_sending_that_is_taken(engine: sa.Engine) -> None:
    """The page's button names the sending it means: the same form posted twice sends once."""
    first = records.claim(engine, "ks-1", "anna", "anna@k.example", at=1.0, by="sara", sequence=0)
    records.finish(engine, first, ok=True, at=2.0)
    with pytest.raises(records.AlreadySending):
        records.claim(engine, "ks-1", "anna", "anna@k.example", at=3.0, by="sara", sequence=0)
    again = records.claim(engine, "ks-1", "anna", "anna@k.example", at=4.0, by="sara", sequence=1)
    assert again.sequence == 1


def test_a_sending_abandoned_by_a_stopped_collector_no_longer_blocks(engine: sa.Engine) -> None:
    records.claim(engine, "ks-1", "anna", "anna@k.example", at=100.0, by="sara")  # the collector died here
    with pytest.raises(records.AlreadySending):  # within the deadline: still on its way
        records.claim(engine, "ks-1", "anna", "anna@k.example", at=150.0, by="sara", abandoned_after_s=140.0)
    again = records.claim(engine, "ks-1", "anna", "anna@k.example", at=300.0, by="sara", abandoned_after_s=140.0)
    got = records.for_meeting(engine, "ks-1")["anna"]
    assert again.sequence == 1
    assert [(x.sequence, x.status, x.error) for x in got] == [(0, "failed", records.ABANDONED_SV), (1, "sending", None)]
