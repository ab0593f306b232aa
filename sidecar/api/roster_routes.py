"""Roster changes from Home Assistant: propose, approve, and see what is open.

Plain HTTP beside the WebSocket, with the same bearer token (PROTOCOL.md section
12.13):

* ``GET /api/v1/roster``: the roster this node builds on, and every open proposal
  with who approved it;
* ``GET /api/v1/roster/member``: this flat's member line, for a roster;
* ``POST /api/v1/roster/propose``: propose the next version, approved with this
  flat's key;
* ``POST /api/v1/roster/approve``: approve an open proposal with this flat's key.

Proposals and approvals are entries (:mod:`sidecar.mesh.roster_votes`); a node that
has approved and sees a majority records the change itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from typing import Any, Final

from aiohttp import web

from sidecar.api import bearer, messages
from sidecar.api.first_roster import FirstRoster
from sidecar.api.services import NodeServices
from sidecar.ledger.canonical import CanonicalError, JsonObject
from sidecar.ledger.errors import InvalidData
from sidecar.ledger.etp import Entry
from sidecar.mesh import roster as roster_module
from sidecar.mesh import roster_votes
from sidecar.mesh.roster import Member, Roster, RosterError
from sidecar.mesh.roster_votes import Proposal, Votes
from sidecar.storage import store

ROSTER_PATH: Final = "/api/v1/roster"
MIN_EFFECTIVE_S: Final = 10
MAX_EFFECTIVE_S: Final = 30 * 86_400
DEFAULT_EFFECTIVE_S: Final = 86_400
# How each refusal is answered: the request's fault, or a conflict with the ledger.
_STATUS: Final = {
    "unknown_proposal": 404,
    "not_next": 409,
    "effective_passed": 409,
    "non_member": 409,
}

_LOGGER = logging.getLogger(__name__)


class RosterVoting:
    """The node's part in roster votes: its routes, and recording a complete vote."""

    def __init__(self, services: NodeServices, clock: Callable[[], int]) -> None:
        self._services = services
        self._clock = clock
        self._token = services.config.api_token.encode()
        self.votes = Votes()
        self._tasks: set[asyncio.Task[None]] = set()
        self.first = FirstRoster(services)  # the building's first roster

    def load(self, reader: sqlite3.Connection) -> None:
        """Take the proposals and approvals already stored (at start)."""
        for entry in store.entries_of_kinds(reader, roster_votes.KINDS):
            self.votes.seen(entry)

    def seen(self, entry: Entry) -> None:
        """An entry of any feed (an own one once durable): count it if it is a vote."""
        if self.votes.seen(entry):
            self._record_complete()

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoints on the node's application."""
        app.router.add_get(ROSTER_PATH, self._overview)
        app.router.add_get(f"{ROSTER_PATH}/member", self._member)
        app.router.add_post(f"{ROSTER_PATH}/propose", self._propose)
        app.router.add_post(f"{ROSTER_PATH}/approve", self._approve)
        self.first.add_routes(app)

    @property
    def _me(self) -> bytes:
        return self._services.identity.author

    def _record_complete(self) -> None:
        """Put on record every open proposal this node approved and a majority did."""
        base = self._services.membership.base
        for proposal, valid in self.votes.open(base, self._clock()):
            authors = {str(item["author"]) for item in valid}
            if (
                proposal.recorded
                or len(authors) < base.majority
                or self._me.hex() not in authors
            ):
                continue
            proposal.recorded = True
            task = asyncio.get_running_loop().create_task(self._record(proposal, valid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _record(self, proposal: Proposal, valid: list[JsonObject]) -> None:
        request = messages.RosterSubmit(proposal.roster.document(), tuple(valid))
        try:
            reply = await self._services.submit_roster(request)
        except InvalidData as err:
            # Another approver's record may have come first: nothing is lost.
            _LOGGER.info(
                "Not recording roster version %d: %s", proposal.roster.version, err
            )
            return
        _LOGGER.info(
            "Recorded roster version %d (approved by a majority) as seq %d",
            reply.version,
            reply.seq,
        )

    # The endpoints.

    async def _overview(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        base = self._services.membership.base
        return web.json_response(
            {
                "building": base.building,
                "version": base.version,
                "members": [
                    {"flat": member.flat, "floor": member.floor}
                    for member in base.members
                ],
                "majority": base.majority,
                "proposals": [
                    self._describe(proposal, valid, base)
                    for proposal, valid in self.votes.open(base, self._clock())
                ],
            }
        )

    async def _member(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        config = self._services.config
        address = request.query.get("address") or f"{config.host}:{config.port}"
        try:
            member = roster_module.member_from_json(
                {
                    "flat": config.flat,
                    "floor": config.floor,
                    "key": self._services.identity.public_key.hex(),
                    "address": address,
                }
            )
            if address.split(":")[0] in ("0.0.0.0", "::", "[::]"):
                raise RosterError(
                    "bad_request",
                    "this node listens on every address: give ?address=host:port, "
                    "the one the other flats reach it at",
                )
        except RosterError as err:
            return _refused(err)
        return web.json_response(member.to_json())

    async def _propose(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            body = await _json_body(request)
            add = [roster_module.member_from_json(item) for item in _list(body, "add")]
            remove = [_flat(item) for item in _list(body, "remove")]
            delay_s = body.get("effective_in_s", DEFAULT_EFFECTIVE_S)
            if (
                not isinstance(delay_s, int)
                or isinstance(delay_s, bool)
                or not MIN_EFFECTIVE_S <= delay_s <= MAX_EFFECTIVE_S
            ):
                raise RosterError(
                    "bad_request",
                    f"effective_in_s is whole seconds, {MIN_EFFECTIVE_S} to "
                    f"{MAX_EFFECTIVE_S}",
                )
            base = self._services.membership.base
            self._check_member(base)
            proposed = roster_votes.next_roster(
                base, add, remove, self._clock() + delay_s * 1000
            )
            await self._append(
                roster_votes.PROPOSAL,
                roster_votes.proposal_body(self._services.identity, proposed),
            )
        except InvalidData as err:
            return _refused(err)
        return web.json_response(
            {
                "digest": proposed.digest.hex(),
                "version": proposed.version,
                "effective": proposed.effective,
            }
        )

    async def _approve(self, request: web.Request) -> web.Response:
        if (refusal := self._refusal(request)) is not None:
            return refusal
        try:
            body = await _json_body(request)
            digest_hex = body.get("digest")
            if not isinstance(digest_hex, str):
                raise RosterError("bad_request", "send the proposal's digest")
            base = self._services.membership.base
            self._check_member(base)
            found = self._open(base, digest_hex)
            if found is None:
                raise RosterError(
                    "unknown_proposal",
                    "no open proposal has that digest (recorded, expired, replaced "
                    "by another version, or not here yet)",
                )
            proposal, valid = found
            if self._me.hex() not in {str(item["author"]) for item in valid}:
                await self._append(
                    roster_votes.APPROVAL,
                    roster_votes.approval_body(
                        self._services.identity, proposal.roster
                    ),
                )
        except InvalidData as err:
            return _refused(err)
        found = self._open(base, digest_hex)
        approvals = len(found[1]) if found is not None else base.majority
        return web.json_response(
            {"digest": digest_hex, "approvals": approvals, "needed": base.majority}
        )

    # Helpers.

    def _open(
        self, base: Roster, digest_hex: str
    ) -> tuple[Proposal, list[JsonObject]] | None:
        for proposal, valid in self.votes.open(base, self._clock()):
            if proposal.roster.digest.hex() == digest_hex:
                return proposal, valid
        return None

    def _check_member(self, base: Roster) -> None:
        if base.member(self._me) is None:
            raise RosterError(
                "non_member", "this flat is not a member of the roster it would change"
            )

    async def _append(self, kind: str, body: JsonObject) -> None:
        gate = self._services.gate
        try:
            _, ticket = gate.append(kind, body, self._clock())
        except CanonicalError as err:
            raise RosterError("too_large", err.detail) from err
        await gate.durable(ticket)

    def _describe(
        self, proposal: Proposal, valid: list[JsonObject], base: Roster
    ) -> dict[str, Any]:
        roster = proposal.roster
        before = {member.flat: member for member in base.members}
        after = {member.flat: member for member in roster.members}
        approvers = {str(item["author"]) for item in valid}
        proposer = base.member(proposal.proposer)
        return {
            "digest": roster.digest.hex(),
            "version": roster.version,
            "effective": roster.effective,
            "proposer": None if proposer is None else proposer.flat,
            "add": [_brief(m) for flat, m in after.items() if flat not in before],
            "remove": [flat for flat in before if flat not in after],
            "replace": [
                _brief(m)
                for flat, m in after.items()
                if flat in before and before[flat] != m
            ],
            "approved_by": [
                member.flat
                for member in base.members
                if member.author.hex() in approvers
            ],
            "approved_by_me": self._me.hex() in approvers,
            "needed": base.majority,
        }

    def _refusal(self, request: web.Request) -> web.Response | None:
        return bearer.refusal(request, self._token)


def _brief(member: Member) -> dict[str, str]:
    return {"flat": member.flat, "floor": member.floor, "address": member.address}


def _refused(err: InvalidData) -> web.Response:
    return web.json_response(
        {"error": err.reason, "detail": err.detail}, status=_STATUS.get(err.reason, 400)
    )


async def _json_body(request: web.Request) -> dict[str, object]:
    try:
        body = json.loads(await request.text())
    except (ValueError, UnicodeDecodeError) as err:
        raise RosterError("bad_request", f"the body is not JSON: {err}") from err
    if not isinstance(body, dict):
        raise RosterError("bad_request", "the body is a JSON object")
    return body


def _list(body: dict[str, object], key: str) -> list[object]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise RosterError("bad_request", f"{key} is a list")
    return value


def _flat(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise RosterError("bad_request", "remove lists flat names")
    return value
