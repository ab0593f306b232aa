"""A node's WAT part over a real database: own meters, and after a restart."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import cast

from sidecar.apps.wat import adoption, kinds, spec
from sidecar.apps.wat.node_app import WatApp
from sidecar.ledger import kinds as ledger_kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.mesh.roster import Member, Roster
from sidecar.storage import store
from sidecar.storage.gate import Gate
from tests.sidecar.support import BUILDING, T0, Ledger, open_ledger

MINUTE = 60_000


class Recorder:
    """Stands in for the gate: keeps what WAT would append to the own feed."""

    def __init__(self) -> None:
        self.appended: list[JsonObject] = []

    def append(self, kind: str, body: JsonObject, now_ms: int) -> None:
        assert kind == kinds.METER
        self.appended.append(body)


def _load(ledger: Ledger, roster: Roster, recorder: Recorder, now: int) -> WatApp:
    ledger.sync()
    app = WatApp(roster, cast(Gate, recorder), lambda: now, ledger.identity.author)
    conn = store.connect(ledger.path, readonly=True)
    try:
        app.load(conn, 1)
    finally:
        conn.close()
    return app


def test_meters_resume_after_a_restart_without_losing_the_closing_flow(
    tmp_path: Path,
) -> None:
    """The flow that closed a meter comes before it; a restart still counts it."""
    ledger = open_ledger(tmp_path / "ledger.db")
    try:
        me = ledger.identity
        roster = Roster(
            BUILDING, 1, (Member("301", "3", me.public_key, "127.0.0.1:1"),)
        )
        currency = dataclasses.replace(spec.default(BUILDING, T0), interval_min=1)
        body = kinds.entry_body(currency, [adoption.approve(me, currency)])
        ledger.feed.append(kinds.CURRENCY, body, T0 - MINUTE)
        now = ledger.flows(61, T0 + 1000)  # flows [T0, T0 + 61 s)
        recorder = Recorder()
        _load(ledger, roster, recorder, now)
        (first,) = recorder.appended
        assert (first["start"], first["end"]) == (T0, T0 + MINUTE)
        per_flow = ledger_kinds.Totals(1393, 0, 0, 319, 500, 574).grid_out
        assert first["grid_out"] == 60 * per_flow
        ledger.feed.append(kinds.METER, first, now)  # then the node stopped
        now = ledger.flows(60, now)  # and, restarted, wrote the next minute's flows
        recorder = Recorder()
        app = _load(ledger, roster, recorder, now)
        (second,) = recorder.appended
        assert (second["start"], second["end"]) == (T0 + MINUTE, T0 + 2 * MINUTE)
        assert second["grid_out"] == 60 * per_flow  # the closing flow is counted
        last = first["last"]
        assert isinstance(last, int)
        assert second["first"] == last + 1
        assert app.settlement.currency(T0) == currency
    finally:
        ledger.writer.close()
