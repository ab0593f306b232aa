"""statement, verify-statement and settlement-report over exported feeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sidecar.apps.wat import spec
from sidecar.cli import main
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.etp import Entry
from tests.sidecar.wat.support import BUILDING, HALF_HOUR, MIN, T0, Flats


def _export(path: Path, flats: Flats, entries: list[Entry]) -> Path:
    lines: list[JsonObject] = [
        {"type": "ledger", "format": 2, "building": BUILDING},
        {"type": "roster", "roster": flats.roster.document()},
    ]
    lines += [{"type": "author", "key": i.public_key.hex()} for i in flats.identities]
    lines += [etp.entry_to_wire(entry) for entry in entries]
    path.write_text("".join(etp.wire_json(line) + "\n" for line in lines))
    return path


@pytest.fixture
def export(tmp_path: Path) -> Path:
    """Two settled half hours of three flats, and one power-cut receipt."""
    flats = Flats(3)
    entries = [flats.adopt(spec.default(BUILDING, T0), ts=T0 - MIN)]
    for index in range(2):
        start = T0 + index * HALF_HOUR
        entries += [
            flats.meter(0, start, start + HALF_HOUR, grid_out=3_000_000),
            flats.meter(1, start, start + HALF_HOUR, grid_in=2_000_000),
            flats.meter(2, start, start + HALF_HOUR, grid_in=4_000_000),
        ]
    entries.append(flats.receipt(1, 0, 500_000, T0 + 10 * MIN, T0 + 11 * MIN))
    return _export(tmp_path / "feeds.jsonl", flats, entries)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_a_statement_is_traceable_and_verifies_offline(
    export: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Flat 101 bought twice and received bus energy once; every line names entries."""
    code, out = _run(
        capsys,
        "statement",
        "--export",
        str(export),
        "--flat",
        "101",
        "--month",
        "2026-12",
    )
    assert code == 0
    doc = json.loads(out)
    assert doc["from"] == "2026-12-01T00:00:00+09:00"
    kinds = [(line["kind"], line["amount"]) for line in doc["lines"]]
    # 0.5 kWh over the bus at 40 WAT; then 2.5 kWh sold into 1.5 + 4 kWh of imports:
    # 2.5e6 * 1.5e6 / 5.5e6 = 681 818.18 → 681 818 mWh, 13 636 base units; then
    # 3 kWh sold into 2 + 4 kWh: 1 kWh, 20 WAT.
    assert kinds == [("bought", -13_636), ("bus_in", -20_000), ("bought", -20_000)]
    assert all(line["refs"] for line in doc["lines"])
    saved = tmp_path / "statement.json"
    saved.write_text(out)
    assert _run(capsys, "verify-statement", str(saved), "--export", str(export))[0] == 0
    doc["lines"][0]["amount"] = -13_000
    saved.write_text(json.dumps(doc))
    code, out = _run(capsys, "verify-statement", str(saved), "--export", str(export))
    assert code == 1
    assert "lines" in out


def test_the_csv_statement_ends_with_opening_value_change_and_closing(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One row a line, then the three totals."""
    code, out = _run(
        capsys,
        "statement",
        "--export",
        str(export),
        "--flat",
        "100",
        "--month",
        "2026-12",
        "--format",
        "csv",
    )
    assert code == 0
    rows = out.splitlines()
    assert rows[0].startswith("start,end,kind,mwh")
    assert [row.split(",")[0] for row in rows[-3:]] == [
        "opening",
        "value_change",
        "closing",
    ]


def test_the_month_report_splits_neighbours_bus_and_grid(
    export: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Per flat: neighbours' and the grid's share of its metered energy add up."""
    code, out = _run(
        capsys, "settlement-report", "--export", str(export), "--month", "2026-12"
    )
    assert code == 0
    rows = {row["flat"]: row for row in json.loads(out)}
    seller = rows["100"]
    assert seller["out_mwh"] == 6_000_000
    assert seller["bus_out_mwh"] == 500_000
    assert seller["sold_mwh"] + seller["grid_export_mwh"] + 500_000 == 6_000_000
    buyer = rows["102"]
    assert buyer["bought_mwh"] + buyer["grid_import_mwh"] == buyer["in_mwh"]
