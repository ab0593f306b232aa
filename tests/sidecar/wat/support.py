"""A building of signing identities that writes WAT's entries, without processes."""

from __future__ import annotations

from dataclasses import dataclass, field

from sidecar.apps.wat import adoption, kinds
from sidecar.apps.wat.spec import Currency
from sidecar.coordination import kinds as coordination
from sidecar.ledger import etp
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.etp import Entry
from sidecar.ledger.identity import Identity
from sidecar.mesh.roster import Member, Roster

BUILDING = "bldg-01"
MIN = 60_000
HALF_HOUR = 30 * MIN
# 2026-12-01 00:00 in Tokyo, a whole settlement interval and a whole day there.
T0 = 1_796_050_800_000


@dataclass
class Flats:
    """``count`` flats with keys, a first roster and a feed each."""

    count: int
    identities: list[Identity] = field(init=False)
    roster: Roster = field(init=False)
    seqs: dict[bytes, int] = field(default_factory=dict)
    heads: dict[bytes, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Make the keys (fixed scalars, so ids repeat run to run) and the roster."""
        self.identities = [Identity.from_scalar(1000 + i) for i in range(self.count)]
        members = tuple(
            Member(f"{100 + i}", "1", ident.public_key, f"127.0.0.1:{9000 + i}")
            for i, ident in enumerate(self.identities)
        )
        self.roster = Roster(BUILDING, 1, members)

    def author(self, flat: int) -> bytes:
        """Flat ``flat``'s author id."""
        return self.identities[flat].author

    def entry(
        self, flat: int, kind: str, members: JsonObject, ts: int, refs: int = 0
    ) -> Entry:
        """The next entry of flat ``flat``'s feed."""
        ident = self.identities[flat]
        seq = self.seqs.get(ident.author, 0) + 1
        prev = self.heads.get(ident.author, bytes(32))
        content: JsonObject = {"v": 1, "kind": kind, "building": BUILDING, "ts": ts}
        content.update(members)
        entry = etp.make_entry(
            ident, seq, prev, (bytes(32),) * refs, content, deterministic=True
        )
        self.seqs[ident.author], self.heads[ident.author] = seq, entry.id
        return entry

    def meter(
        self,
        flat: int,
        start: int,
        end: int,
        *,
        grid_in: int = 0,
        grid_out: int = 0,
        ren_out: int = 0,
        ts: int | None = None,
    ) -> Entry:
        """A ``wat_meter`` entry of flat ``flat``."""
        body = kinds.meter_body(start, end, (grid_in, grid_out, ren_out), 1, 1)
        return self.entry(flat, kinds.METER, body, end + 1000 if ts is None else ts)

    def adopt(
        self, currency: Currency, ts: int, approvers: range | None = None, by: int = 0
    ) -> Entry:
        """A ``currency`` entry approved by ``approvers`` (default: everyone)."""
        chosen = range(self.count) if approvers is None else approvers
        approvals: list[JsonValue] = [
            adoption.approve(self.identities[i], currency) for i in chosen
        ]
        return self.entry(by, kinds.CURRENCY, kinds.entry_body(currency, approvals), ts)

    def receipt(
        self, receiver: int, giver: int, mwh: int, start: int, ts: int
    ) -> Entry:
        """A power-cut ``receipt``: ``receiver`` got ``mwh`` from ``giver``."""
        body: JsonObject = {
            "from": self.author(giver).hex(),
            "mwh": mwh,
            "start": start,
            "end": start + 10_000,
        }
        return self.entry(receiver, coordination.RECEIPT, body, ts, refs=1)
