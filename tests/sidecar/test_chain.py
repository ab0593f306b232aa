"""The one chain rule every taker of entries uses: place, link and time."""

from __future__ import annotations

import pytest

from sidecar.ledger import chain, etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.ledger.chain import Place, Tip
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from tests.sidecar.support import BUILDING, T0, flow_content

KEY = Identity.generate()


def _entry(seq: int, prev: bytes, ts: int, kind: str = "dispatch_cancel") -> Entry:
    content: JsonObject = {"v": kinds.VERSION, "kind": kind, "building": BUILDING}
    content["ts"] = ts
    if kind == kinds.FLOW:
        content.update(flow_content(ts - 1000))
    else:
        content["event"] = "ab" * 32
    return etp.make_entry(KEY, seq, prev, (), content)


def _feed(count: int) -> list[Entry]:
    entries: list[Entry] = []
    prev = etp.ZERO_ID
    for seq in range(1, count + 1):
        entries.append(_entry(seq, prev, T0 + seq * 1000))
        prev = entries[-1].id
    return entries


FEED = _feed(4)


def _place(
    tip: Tip,
    entry: Entry,
    held: dict[int, bytes] | None = None,
    *,
    keep_folded_history: bool = False,
) -> tuple[Place, list[int]]:
    checked: list[int] = []
    place = chain.place(
        tip,
        entry,
        (held or {}).get,
        lambda item: checked.append(item.seq),
        keep_folded_history=keep_folded_history,
    )
    return place, checked


def _tip(entry: Entry, pruned: int = 0) -> Tip:
    return Tip(entry.seq, entry.id, entry.ts, pruned)


def test_the_next_entry_is_checked_and_linked() -> None:
    assert _place(_tip(FEED[1]), FEED[2]) == (Place.NEXT, [3])


def test_an_entry_beyond_the_next_is_a_gap_and_not_checked() -> None:
    assert _place(_tip(FEED[0]), FEED[2]) == (Place.GAP, [])


def test_the_entry_held_is_a_duplicate_and_not_checked() -> None:
    held = {entry.seq: entry.id for entry in FEED}
    assert _place(_tip(FEED[3]), FEED[1], held) == (Place.DUPLICATE, [])


def test_another_entry_at_a_held_seq_is_a_checked_conflict() -> None:
    held = {entry.seq: entry.id for entry in FEED}
    other = _entry(2, FEED[0].id, FEED[1].ts + 1)
    assert _place(_tip(FEED[3]), other, held) == (Place.CONFLICT, [2])


def test_an_entry_missing_above_the_frontier_is_a_conflict() -> None:
    assert _place(_tip(FEED[3], pruned=1), FEED[2]) == (Place.CONFLICT, [3])


def test_an_entry_missing_below_the_frontier_is_history() -> None:
    assert _place(_tip(FEED[3], pruned=3), FEED[1]) == (Place.HISTORY, [2])


def test_folded_kinds_below_the_frontier_are_kept_only_if_asked() -> None:
    flow = _entry(2, FEED[0].id, FEED[1].ts, kinds.FLOW)
    tip = _tip(FEED[3], pruned=3)
    assert _place(tip, flow) == (Place.DUPLICATE, [])
    assert _place(tip, flow, keep_folded_history=True) == (Place.HISTORY, [2])


def test_a_wrong_prev_breaks_the_chain() -> None:
    stranger = _entry(3, b"\x07" * 32, FEED[2].ts)
    with pytest.raises(InvalidData) as err:
        _place(_tip(FEED[1]), stranger)
    assert err.value.reason == "broken_chain"


def test_nothing_to_link_to_skips_the_prev_but_not_the_time() -> None:
    stranger = _entry(3, b"\x07" * 32, FEED[2].ts)
    assert _place(Tip(2, None, FEED[1].ts, 2), stranger) == (Place.NEXT, [3])
    older = _entry(3, b"\x07" * 32, FEED[1].ts - 1)
    with pytest.raises(InvalidData) as err:
        _place(Tip(2, None, FEED[1].ts, 2), older)
    assert err.value.reason == "time_backwards"


def test_the_check_comes_before_the_link() -> None:
    def refuse(entry: Entry) -> None:
        raise InvalidData("forged", f"seq {entry.seq}")

    stranger = _entry(3, b"\x07" * 32, FEED[2].ts)
    with pytest.raises(InvalidData) as err:
        chain.place(_tip(FEED[1]), stranger, {}.get, refuse, keep_folded_history=False)
    assert err.value.reason == "forged"


def test_link_problems_lists_every_problem() -> None:
    stranger = _entry(3, b"\x07" * 32, FEED[1].ts - 1)
    codes = [code for code, _ in chain.link_problems(_tip(FEED[1]), stranger)]
    assert codes == ["broken_chain", "time_backwards"]
    assert chain.link_problems(_tip(FEED[1]), FEED[2]) == []
