"""The node's own checkpoints: signed while its feed grows, witnessed by its peers.

A checkpoint is signed at most once per size and sent to every peer, which cosigns it.
The node also declares, in its own feed, the heads it knows to be witnessed, so that
every member learns them (PROTOCOL.md section 14.5).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, Final

from sidecar.ledger import etp, kinds
from sidecar.ledger.canonical import JsonObject
from sidecar.mesh.membership import Membership
from sidecar.mesh.mesh import Mesh
from sidecar.mesh.witness import Witness
from sidecar.storage.gate import Gate

DECLARE_EVERY_S: Final = 30.0
# Every peer verifies and cosigns every checkpoint, and checks every declaration: in a
# large building both come less often, so that what each node verifies and signs for
# them stays about the same whatever the building's size (PROTOCOL.md section 14.5).
CHECKPOINT_S_PER_MEMBER: Final = 0.1
DECLARE_S_PER_MEMBER: Final = 0.3


class Checkpoints:
    """Signing this node's checkpoints, and declaring the heads known witnessed."""

    def __init__(
        self,
        *,
        gate: Gate,
        witness: Witness,
        mesh: Mesh,
        membership: Membership,
        clock: Callable[[], int],
        interval_s: float,
    ) -> None:
        self.gate = gate
        self.witness = witness
        self.mesh = mesh
        self.membership = membership
        self.clock = clock
        self.interval_s = interval_s
        self._due_at = 0.0
        self._latest: etp.Statement | None = None
        self._declared: JsonObject | None = None
        self._declared_at_seq = 0
        self._declared_at = -DECLARE_EVERY_S

    def schedule(self, intervals: float) -> None:
        """Sign the next checkpoint ``intervals`` checkpoint intervals from now.

        Never on a shared beat: every peer verifies and cosigns each checkpoint, and
        nodes started together would otherwise all ask for that at the same moment.
        """
        self._due_at = time.monotonic() + self.interval() * intervals

    def interval(self) -> float:
        """Seconds between checkpoints: the setting, longer in a large building."""
        return spacing(self.interval_s, CHECKPOINT_S_PER_MEMBER, self._members())

    def _members(self) -> int:
        return len(self.membership.roster.members)

    def due(self) -> bool:
        """Whether the scheduled time for the next checkpoint has come."""
        return time.monotonic() >= self._due_at

    async def sign(self) -> dict[str, Any]:
        """A signed checkpoint of the current tree, made now if the tree has grown.

        Asking again while nothing was appended returns the same checkpoint, so
        requests cannot fill the database with identical tree heads.
        """
        feed = self.gate.feed
        latest = self._latest
        if latest is not None and latest.content["size"] == feed.seq:
            return etp.statement_to_wire(latest)
        statement, ticket = self.gate.guarded(lambda: feed.checkpoint(self.clock()))
        self.schedule(random.uniform(0.8, 1.2))
        await self.gate.durable(ticket)
        self._latest = statement
        self.witness.own_checkpoint(statement)
        self.mesh.broadcast_statement(statement)
        return etp.statement_to_wire(statement)

    def declare_witnessed(self) -> None:
        """Cross-reference the witnessed heads this node knows in its own feed."""
        feed = self.gate.feed
        # Only beside other news: declarations alone would make peers' feeds grow,
        # be checkpointed, witnessed and declared again, for ever.
        if len(self.membership.roster.members) < 2 or feed.seq <= self._declared_at_seq:
            return
        # Every peer checks every declaration: a few per minute say enough.
        every = spacing(DECLARE_EVERY_S, DECLARE_S_PER_MEMBER, self._members())
        if time.monotonic() - self._declared_at < every:
            return
        declaration = self.witness.declaration()
        if not declaration["logs"] or declaration == self._declared:
            return
        self._declared = declaration
        self.gate.append(kinds.WITNESSED, declaration, self.clock())
        self._declared_at_seq = feed.seq
        self._declared_at = time.monotonic()


def spacing(least_s: float, per_member_s: float, members: int) -> float:
    """Seconds between two things every peer checks: ``least_s``, or more when large.

    ``per_member_s`` for each member, so that each node checks about as many a second
    whatever the building's size.
    """
    return max(least_s, per_member_s * members)
