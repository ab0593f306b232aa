"""Checking a certificate file offline, from the exported feeds alone.

The checker recomputes every flat-hour from the signed hourly rollups in the
export, with the same rules and rounding as the issuer, and compares. Each fault
is named (docs/ORIGIN.md): ``bad_id`` (a certificate's content does not give its
id: it was altered), ``sum_mismatch`` (a figure differs from its entries),
``storage_out_exceeds_in`` (more renewable energy out of a battery than the
ledger lets into it), ``claimed_twice`` (a certificate, or renewable energy, that
appears twice, or stored, handed-on or exported energy claimed),
``missing_proof`` (no inclusion proof in a majority-cosigned checkpoint),
``bad_file`` (a line that is not a certificate line).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sidecar.apps.origin import anchors, certificates, model
from sidecar.apps.origin.feeds import FeedView
from sidecar.apps.origin.hourly import Tracker
from sidecar.ledger.canonical import JsonObject

DEFAULT_TZ: Final = "Asia/Tokyo"


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: its code, the certificate or line it is in, and what is wrong."""

    code: str
    where: str
    detail: str

    def __str__(self) -> str:
        return f"{self.where}: {self.code}: {self.detail}"


@dataclass(slots=True)
class Result:
    """The outcome of a check."""

    faults: list[Fault] = field(default_factory=list)
    bundles: int = 0
    certificates: int = 0

    @property
    def ok(self) -> bool:
        """True when nothing is wrong."""
        return not self.faults


def check(lines: Iterable[str], view: FeedView) -> Result:
    """Check the lines of a certificate file against the exported feeds."""
    checker = _Checker(view)
    read: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            checker.fault("bad_file", f"line {number}", str(err))
            continue
        if not isinstance(obj, dict):
            checker.fault("bad_file", f"line {number}", "not a JSON object")
            continue
        read.append((number, obj))
    # The header (time zone) and the anchors first, wherever they stand.
    order = {"certificates": 0, "anchor": 1}
    for number, obj in sorted(
        read, key=lambda item: order.get(str(item[1].get("type")), 2)
    ):
        try:
            checker.take(obj, number)
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            checker.fault("bad_file", f"line {number}", f"malformed: {err!r}")
    checker.pools()
    return checker.result


class _Checker:
    def __init__(self, view: FeedView) -> None:
        self.view = view
        self.result = Result()
        self.tz = DEFAULT_TZ
        self._expected: dict[tuple[str, str], JsonObject] | None = None
        self._covered: dict[str, frozenset[int]] = {}
        self._tracker: Tracker | None = None
        self._seen_ids: set[str] = set()
        self._seen_parts: set[tuple[str, str, str, str]] = set()
        self._neighbour_claims: dict[str, int] = {}
        self._neighbour_limit: dict[str, int] = {}
        self._records: dict[str, list[tuple[str, str, str, dict[str, Any]]]] = {}
        for problem in view.problems:
            self.fault("bad_feed", "feeds", problem)

    def fault(self, code: str, where: str, detail: str) -> None:
        self.result.faults.append(Fault(code, where, detail))

    def take(self, obj: dict[str, Any], number: int) -> None:
        kind = obj.get("type")
        if kind == "certificates":
            self.tz = str(obj.get("tz", DEFAULT_TZ))
        elif kind == "anchor":
            self._anchor(obj)
        elif kind == "bundle":
            self._bundle(obj)
        else:
            self.fault("bad_file", f"line {number}", f"unknown line type {kind!r}")

    def expected(self) -> dict[tuple[str, str], JsonObject]:
        """The bundles the feeds give, by (log, period start)."""
        if self._expected is None:
            tracker = self.tracker()
            figures = model.compute(tracker.flats, closed_only=True)
            self._expected = {}
            for (author, _hour), item in figures.items():
                made = certificates.bundle(item, tracker.flats[author], self.tz)
                if made is not None:
                    period = made["period"]
                    assert isinstance(period, list)
                    self._expected[(author.hex(), str(period[0]))] = made
                    self._limit(made)
        return self._expected

    def tracker(self) -> Tracker:
        if self._tracker is None:
            tracker = Tracker(self.tz)
            for entry in self.view.first_flows.values():
                tracker.locate(entry)
            for entries in self.view.rollups.values():
                for entry in entries:
                    tracker.add(entry)
            self._tracker = tracker
        return self._tracker

    def _limit(self, made: JsonObject) -> None:
        stated = made["period"]
        assert isinstance(stated, list)
        period = str(stated[0])
        for cert in _certs(made):
            if cert["source"] == "neighbours":
                self._neighbour_limit[period] = (
                    self._neighbour_limit.get(period, 0) + cert["ren_wh"]
                )

    def _anchor(self, obj: dict[str, Any]) -> None:
        log = str(obj["log"])
        where = f"anchor of {log[:16]}"
        author = bytes.fromhex(log)
        flat = self.tracker().flats.get(author)
        seq = obj["seq"]
        rollup = next(
            (e for e in self.view.rollups.get(author, []) if e.seq == seq), None
        )
        if flat is None or rollup is None or rollup.id.hex() != obj["id"]:
            self.fault("missing_proof", where, f"no hourly rollup {seq} in the feeds")
            return
        problem = anchors.check_anchor(obj, rollup)
        if problem is not None:
            self.fault("missing_proof", where, problem)
            return
        head = obj["checkpoint"]
        signers = self.view.cosigned(author, head["size"], head["root"])
        if not anchors.majority(signers, self.view.members):
            self.fault(
                "missing_proof",
                where,
                f"the checkpoint of size {head['size']} is signed by {signers} of "
                f"{self.view.members} members, not a majority",
            )
            return
        self._covered[log] = anchors.chain(flat.rollups, seq)

    def _bundle(self, obj: dict[str, Any]) -> None:
        self.result.bundles += 1
        log = str(obj["log"])
        period = str(obj["period"][0])
        where = f"{obj['location']['flat']} {period}"
        shared = {k: v for k, v in obj.items() if k not in ("type", "certificates")}
        if isinstance(obj.get("storage"), dict):
            start, end = (str(item) for item in obj["period"])
            self._records.setdefault(log, []).append(
                (start, end, where, obj["storage"])
            )
        expected = self.expected().get((log, period))
        for cert in obj["certificates"]:
            self._certificate(cert, shared, expected, log, period, where)
        if expected is None:
            self.fault("sum_mismatch", where, "the feeds hold no such flat-hour")
            return
        if obj["entries"] != expected["entries"]:
            self.fault("sum_mismatch", where, "names other entries than the feeds")
        self._storage(obj.get("storage"), expected.get("storage"), where)
        if obj["entries"]["seq"] not in self._covered.get(log, frozenset()):
            self.fault(
                "missing_proof",
                where,
                "its rollup is not proven by an anchor in a cosigned checkpoint",
            )

    def _certificate(  # noqa: PLR0917 - the certificate and where it sits
        self,
        cert: dict[str, Any],
        shared: JsonObject,
        expected: JsonObject | None,
        log: str,
        period: str,
        where: str,
    ) -> None:
        self.result.certificates += 1
        label = f"{where} {cert['source']}/{cert['use']}"
        if certificates.certificate_id(shared, cert) != cert["id"]:
            self.fault("bad_id", label, "its content does not give its id")
        part = (log, period, str(cert["source"]), str(cert["use"]))
        if cert["id"] in self._seen_ids or part in self._seen_parts:
            self.fault("claimed_twice", label, "this certificate appears twice")
        self._seen_ids.add(cert["id"])
        self._seen_parts.add(part)
        if cert["source"] == "neighbours":
            claimed = self._neighbour_claims.get(period, 0) + cert["ren_wh"]
            self._neighbour_claims[period] = claimed
            if expected is not None and claimed > self._neighbour_limit.get(period, 0):
                self.fault(
                    "claimed_twice",
                    label,
                    "more renewable energy from neighbours is claimed in this hour "
                    "than the neighbours handed on",
                )
        want = next(
            (
                c
                for c in _certs(expected)
                if (c["source"], c["use"]) == (cert["source"], cert["use"])
            ),
            None,
        )
        if want is None:
            self.fault("sum_mismatch", label, "the feeds give no such energy")
            return
        if cert["status"] != want["status"]:
            self.fault(
                "claimed_twice" if cert["status"] == "claimed" else "bad_status",
                label,
                f"status {cert['status']!r} where the scheme gives {want['status']!r}",
            )
        if (cert["wh"], cert["ren_wh"]) != (want["wh"], want["ren_wh"]):
            code = (
                "storage_out_exceeds_in"
                if cert["source"] == "battery" and cert["ren_wh"] > want["ren_wh"]
                else "sum_mismatch"
            )
            self.fault(
                code,
                label,
                f"states {cert['wh']} Wh ({cert['ren_wh']} renewable), its entries "
                f"give {want['wh']} Wh ({want['ren_wh']} renewable)",
            )

    def _storage(self, stated: object, want: object, where: str) -> None:
        if stated == want:
            return
        if not isinstance(stated, dict) or not isinstance(want, dict):
            self.fault("sum_mismatch", where, "the storage record differs")
            return
        if stated.get("discharge_ren_wh", 0) > want.get("discharge_ren_wh", 0):
            self.fault(
                "storage_out_exceeds_in",
                where,
                f"{stated.get('discharge_ren_wh')} renewable Wh discharged; what the "
                f"battery took in allows {want.get('discharge_ren_wh')}",
            )
        else:
            self.fault("sum_mismatch", where, "the storage record differs")

    def pools(self) -> None:
        """Each battery's stated records: out + losses never exceed what went in.

        Between two consecutive hours of one log, the renewable Wh discharged, lost
        and still held cannot exceed those charged plus those held before, and the
        losses and what is held cannot exceed the energy charged plus held before
        (1 Wh allowed for rounding each figure down to whole Wh).
        """
        for records in self._records.values():
            records.sort(key=lambda item: datetime.fromisoformat(item[0]))
            for before, after in itertools.pairwise(records):
                if before[1] != after[0]:
                    continue
                held, record, where = before[3], after[3], after[2]
                ren_out = (
                    record["discharge_ren_wh"]
                    + record["loss_ren_wh"]
                    + record["held_ren_wh"]
                )
                ren_in = record["charge_ren_wh"] + held["held_ren_wh"]
                kept = record["loss_wh"] + record["held_wh"]
                into = record["charge_wh"] + held["held_wh"]
                if ren_out > ren_in + 1 or kept > into + 1:
                    self.fault(
                        "storage_out_exceeds_in",
                        where,
                        f"{ren_out} renewable Wh discharged, lost and held from "
                        f"{ren_in} charged and held before ({kept} Wh lost and "
                        f"held from {into})",
                    )


def _certs(made: JsonObject | None) -> list[dict[str, Any]]:
    if made is None:
        return []
    certs = made["certificates"]
    assert isinstance(certs, list)
    return [c for c in certs if isinstance(c, dict)]
