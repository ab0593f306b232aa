"""Integrity problems: one shape for each, each listed once, the worst one reported."""

from __future__ import annotations

from sidecar.ledger.identity import Identity
from sidecar.mesh.report import (
    EQUIVOCATION,
    VERIFICATION_FAILED,
    Integrity,
    Problem,
    problem,
)
from sidecar.mesh.roster import Member, Roster

MEMBER = Identity.generate()
STRANGER = Identity.generate()
ROSTER = Roster(
    "bldg-01", 1, (Member("301", "3", MEMBER.public_key, "127.0.0.1:8701"),)
)


def test_an_equivocation_names_the_flat_and_the_seq() -> None:
    assert problem(EQUIVOCATION, MEMBER.author, ROSTER, seq=12) == Problem(
        "equivocation", MEMBER.author, "301", seq=12
    )


def test_a_failed_verification_says_what_failed() -> None:
    found = problem(VERIFICATION_FAILED, STRANGER.author, ROSTER, detail="bad root")
    assert found == Problem(
        "verification_failed", STRANGER.author, "", detail="bad root"
    )


def test_each_problem_is_listed_once() -> None:
    integrity = Integrity()
    assert integrity.add(EQUIVOCATION, MEMBER.author, ROSTER, seq=3)
    assert not integrity.add(EQUIVOCATION, MEMBER.author, ROSTER, seq=3)
    assert integrity.add(EQUIVOCATION, MEMBER.author, ROSTER, seq=4)
    assert len(integrity.problems) == 2


def test_the_verdict_is_the_worst_problem() -> None:
    integrity = Integrity()
    assert integrity.verdict() == "ok"
    integrity.add(VERIFICATION_FAILED, MEMBER.author, ROSTER, detail="bad root")
    assert integrity.verdict() == "verification_failed"
    integrity.add(EQUIVOCATION, MEMBER.author, ROSTER, seq=3)
    assert integrity.verdict() == "equivocation"
