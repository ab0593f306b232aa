"""Certificates from a building's feeds: identical everywhere, checked offline."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devkit import origin_ledger
from sidecar.apps.origin import certificates, checker, feeds, issue, model
from sidecar.apps.origin.hourly import Tracker
from sidecar.ledger import canonical
from sidecar.ledger.etp import Entry
from sidecar.storage import origin_reads, store
from sidecar.tools.export import export_lines

TZ = "Asia/Tokyo"
START = 1_765_000_800_000  # 15:00 in Tokyo: PV, batteries charging, then evening


@dataclass(frozen=True, repr=False)  # hypothesis prints it with every example
class Issued:
    db: Path
    feeds: Path
    certificates: Path
    lines: list[str]
    entries: list[Entry]


@pytest.fixture(scope="module")
def issued(tmp_path_factory: pytest.TempPathFactory) -> Issued:
    """Four flats' feeds over five hours, exported, with their certificates."""
    folder = tmp_path_factory.mktemp("origin")
    db = folder / "ledger.db"
    building = origin_ledger.write_building(
        db,
        origin_ledger.profiles(4),
        start_ms=START,
        seconds=5 * 3600,
        interval_ms=10_000,
    )
    origin_ledger.close(building)
    conn = store.connect(db, readonly=True)
    try:
        (folder / "feeds.jsonl").write_text(
            "".join(line + "\n" for line in export_lines(conn))
        )
        entries = list(origin_reads.origin_entries(conn))
    finally:
        conn.close()
    out = folder / "certificates.jsonl"
    _sidecar(
        "certificates",
        "--db",
        str(db),
        "--from",
        "2025-12-06",
        "--to",
        "2025-12-07T06:00",
        "--out",
        str(out),
    )
    return Issued(
        db, folder / "feeds.jsonl", out, out.read_text().splitlines(), entries
    )


def _sidecar(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sidecar", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _figures(entries: list[Entry]) -> tuple[dict[object, object], list[object]]:
    tracker = Tracker(TZ)
    for entry in entries:
        tracker.add(entry)
    figures = model.compute(tracker.flats, closed_only=True)
    made = certificates.bundles(figures, tracker.flats, TZ, start=0, end=2**53)
    return (
        {key: (item.parts, item.storage) for key, item in figures.items()},
        [bundle for _a, _h, bundle in made],
    )


def test_the_file_has_every_flat_hour_with_its_proof(issued: Issued) -> None:
    """Five hours of four flats, one anchor each, and the checker finds nothing."""
    kinds = [json.loads(line)["type"] for line in issued.lines]
    assert kinds.count("anchor") == 4
    assert kinds.count("bundle") == 20
    with issued.feeds.open() as lines:
        view = feeds.scan(lines)
    result = checker.check(issued.lines, view)
    assert result.faults == []
    assert result.certificates > 40


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.integers(0, 2**32))
def test_every_arrival_order_gives_identical_figures_and_certificates(
    issued: Issued, seed: int
) -> None:
    """Authors' entries interleaved in any order (each feed in its own order)."""
    rng = random.Random(seed)
    queues: dict[bytes, list[Entry]] = {}
    for entry in issued.entries:
        queues.setdefault(entry.author, []).append(entry)
    shuffled: list[Entry] = []
    heads = {author: 0 for author in queues}
    while heads:
        author = rng.choice(sorted(heads))
        shuffled.append(queues[author][heads[author]])
        heads[author] += 1
        if heads[author] == len(queues[author]):
            del heads[author]
    assert _figures(shuffled) == _figures(issued.entries)


def test_updating_entry_by_entry_gives_what_the_rollups_recompute(
    issued: Issued,
) -> None:
    """Each hour summed flow by flow equals the hour its signed rollup states."""
    tracker = Tracker(TZ)
    compared = 0
    for entry in issued.entries:
        flat = tracker.flats.get(entry.author)
        if entry.key == "rollup_1" and flat is not None and flat.open is not None:
            running = (list(flat.open.mwh), list(flat.open.ren), flat.open_hour)
            tracker.add(entry)
            hour = flat.hours[running[2]]  # type: ignore[index]
            assert (hour.mwh, hour.ren) == (running[0], running[1])
            compared += 1
        else:
            tracker.add(entry)
    assert compared == 20


def test_csv_lists_every_certificate(issued: Issued) -> None:
    """The CSV form has one row per certificate of the JSON form."""
    done = _sidecar(
        "certificates",
        "--db",
        str(issued.db),
        "--from",
        "2025-12-06",
        "--to",
        "2025-12-07T06:00",
        "--format",
        "csv",
    )
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    count = sum(len(json.loads(line).get("certificates", [])) for line in issued.lines)
    assert rows[0].startswith("id,building,floor,flat")
    assert len(rows) == count + 1


def test_bad_arguments_exit_2_with_a_message(issued: Issued) -> None:
    """A period that ends before it starts is a usage error."""
    done = _sidecar(
        "certificates",
        "--db",
        str(issued.db),
        "--from",
        "2025-12-07",
        "--to",
        "2025-12-06",
    )
    assert done.returncode == 2
    assert "--from must be before --to" in done.stderr


MUTATIONS = (
    "more_wh",
    "more_ren",
    "claim_storage",
    "duplicate",
    "drop_anchor",
    "greener_battery",
    "move_neighbours",
)


def _target(kind: str, cert: dict[str, Any]) -> bool:
    """Whether a certificate is one the mutation applies to."""
    if kind == "claim_storage":
        return bool(cert["use"] == "storage")
    if kind == "greener_battery":
        return bool(cert["source"] == "battery" and cert["ren_wh"] < cert["wh"])
    if kind == "move_neighbours":
        return bool(cert["source"] == "neighbours")
    return True


def _mutate(lines: list[str], kind: str, rng: random.Random) -> tuple[list[str], str]:
    """Tamper with the file; return it and the fault the checker must name."""
    objs = [json.loads(line) for line in lines]
    bundles = [n for n, obj in enumerate(objs) if obj["type"] == "bundle"]
    if kind == "drop_anchor":
        return [
            line
            for line, obj in zip(lines, objs, strict=True)
            if obj["type"] != "anchor"
        ], "missing_proof"
    if kind == "duplicate":
        pick = rng.choice(bundles)
        return [*lines, lines[pick]], "claimed_twice"
    choices = [
        (n, i)
        for n in bundles
        for i, cert in enumerate(objs[n]["certificates"])
        if _target(kind, cert)
    ]
    assert choices, f"the ledger has no certificate to try {kind} on"
    n, i = rng.choice(choices)
    bundle = objs[n]
    cert = bundle["certificates"][i]
    shared = {k: v for k, v in bundle.items() if k not in ("type", "certificates")}
    if kind == "more_wh":
        cert["wh"] += rng.randint(1, 500)
        expected = "sum_mismatch"
    elif kind == "more_ren":
        cert["ren_wh"] += rng.randint(1, 500)
        # Greener energy out of a battery than went in has a name of its own.
        battery = cert["source"] == "battery"
        expected = "storage_out_exceeds_in" if battery else "sum_mismatch"
    elif kind == "claim_storage":
        cert["status"] = "claimed"
        expected = "claimed_twice"
    elif kind == "greener_battery":
        cert["ren_wh"] = cert["wh"]
        expected = "storage_out_exceeds_in"
    else:
        cert["ren_wh"] += 1_000
        cert["wh"] += 1_000
        expected = "claimed_twice"
    if rng.random() < 0.5:
        cert["id"] = certificates.certificate_id(shared, cert)  # a careful forger
    changed = list(lines)
    changed[n] = canonical.encode(bundle).decode()
    return changed, expected


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(st.sampled_from(MUTATIONS), st.integers(0, 2**32))
def test_a_tampered_or_double_claimed_file_is_rejected_by_name(
    issued: Issued, kind: str, seed: int
) -> None:
    """Each kind of tampering is found and named, even with the ids recomputed."""
    rng = random.Random(seed)
    with issued.feeds.open() as lines:
        view = feeds.scan(lines)
    changed, expected = _mutate(issued.lines, kind, rng)
    result = checker.check(changed, view)
    assert expected in {fault.code for fault in result.faults}, result.faults


def test_the_command_line_checker_exits_1_and_names_the_fault(
    issued: Issued, tmp_path: Path
) -> None:
    """verify-certificates: 0 for the issued file, 1 with the fault for a forged one."""
    done = _sidecar(
        "verify-certificates", str(issued.certificates), "--feeds", str(issued.feeds)
    )
    assert done.returncode == 0, done.stdout
    forged, _expected = _mutate(issued.lines, "duplicate", random.Random(1))
    path = tmp_path / "forged.jsonl"
    path.write_text("\n".join(forged) + "\n")
    done = _sidecar(
        "verify-certificates", str(path), "--feeds", str(issued.feeds), "--json"
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert not report["ok"]
    assert {f["code"] for f in report["faults"]} == {"claimed_twice"}


def test_nothing_is_issued_before_a_majority_cosigned_checkpoint(
    tmp_path: Path,
) -> None:
    """Checkpoints without cosignatures prove nothing: every flat-hour is pending."""
    db = tmp_path / "ledger.db"
    building = origin_ledger.write_building(
        db,
        origin_ledger.profiles(3),
        start_ms=START,
        seconds=2 * 3600,
        interval_ms=60_000,
        cosign=False,
    )
    origin_ledger.close(building)
    conn = store.connect(db, readonly=True)
    try:
        issued = issue.issue(conn, TZ, start=0, end=2**53)
    finally:
        conn.close()
    assert [line["type"] for line in issued.lines] == ["certificates"]
    assert issued.pending == 6


def test_the_origin_table_has_each_flat_and_the_building_by_day(
    issued: Issued,
) -> None:
    """By day: one row per flat and one for the building, whose figures are the
    flats' within the rounding of each row to whole Wh."""
    done = _sidecar(
        "origin",
        "--db",
        str(issued.db),
        "--from",
        "2025-12-06",
        "--to",
        "2025-12-08",
        "--by",
        "day",
        "--format",
        "json",
    )
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["flat"] for row in rows] == ["101", "102", "103", "104", "building"]
    flats, building = rows[:-1], rows[-1]
    for key in ("consumed_wh", "consumed_ren_wh", "pv_wh", "grid_wh", "exported_wh"):
        total = sum(row[key] for row in flats)
        assert total <= building[key] < total + len(flats)
    # What neighbours took is exactly what neighbours gave, renewable part too.
    assert building["neighbours_wh"] == building["to_neighbours_wh"]
    assert building["neighbours_ren_wh"] == building["to_neighbours_ren_wh"]
    assert sum(row["neighbours_wh"] for row in flats) > 0


def test_continuing_from_settled_hours_gives_the_full_computation(
    issued: Issued,
) -> None:
    """Figures computed in two steps, the second from where the first settled,
    equal the figures computed at once, whichever hour the first step stops at."""
    tracker = Tracker(TZ)
    for entry in issued.entries:
        tracker.add(entry)
    whole = model.compute(tracker.flats)
    hours = sorted({hour for _author, hour in whole})
    for settle in [*hours, hours[-1] + 3_600_000]:
        first, settled = model.compute_from(
            tracker.flats, model.Settled(), settle=settle
        )
        assert settled.until == settle
        rest, _ = model.compute_from(tracker.flats, settled)
        joined = {k: v for k, v in first.items() if k[1] < settle} | rest
        assert {k: (v.parts, v.storage) for k, v in joined.items()} == {
            k: (v.parts, v.storage) for k, v in whole.items()
        }


def test_the_order_of_the_lines_does_not_matter_to_the_checker(issued: Issued) -> None:
    """Header and anchors after the bundles, bundles in any order: still no fault."""
    with issued.feeds.open() as lines:
        view = feeds.scan(lines)
    shuffled = list(issued.lines)
    random.Random(3).shuffle(shuffled)
    assert checker.check(shuffled, view).faults == []


def test_a_damaged_export_is_reported_not_a_crash(issued: Issued) -> None:
    """Broken lines in the feeds are named; the certificates they held are unproven."""
    lines = issued.feeds.read_text().splitlines()
    lines[5] = '{"author":"' + "zz" * 32 + '","body":{"kind":"flow"}}'
    lines[6] = "not json"
    view = feeds.scan(lines)
    assert len(view.problems) == 2
    result = checker.check(issued.lines, view)
    assert {fault.code for fault in result.faults} >= {"bad_feed"}
