"""The local API's WAT routes (bearer token, like ``/api/v1/ws``).

* ``GET /api/v1/wat``: this flat's WAT now (SIDECAR.md, "WAT");
* ``GET /api/v1/wat/statement?from=<ms>&to=<ms>``: this flat's statement;
* ``POST /api/v1/wat/currency``: record an approved currency version
  (``{"proposal": <document>, "approvals": [...]}``), refused with a reason unless it is
  valid now and takes effect in the future.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web

from sidecar.api import bearer
from sidecar.apps.wat import adoption, kinds, statement
from sidecar.apps.wat.node_app import WatApp
from sidecar.apps.wat.spec import SpecError
from sidecar.ledger.canonical import CanonicalError, JsonValue
from sidecar.ledger.kinds import periods

PATH: Final = "/api/v1/wat"
DAY: Final = 2


class WatRoutes:
    """The handlers, over one node's :class:`WatApp`."""

    def __init__(self, app: WatApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    def add_routes(self, web_app: web.Application) -> None:
        """Register the routes."""
        web_app.router.add_get(PATH, self._state)
        web_app.router.add_get(f"{PATH}/statement", self._statement)
        web_app.router.add_post(f"{PATH}/currency", self._currency)

    def _authorized(self, request: web.Request) -> bool:
        return bearer.admitted(request, self._token)

    async def _state(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _refuse(401, "unauthorized", "a bearer token is required")
        return web.json_response(state(self.app))

    async def _statement(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _refuse(401, "unauthorized", "a bearer token is required")
        try:
            start = int(request.query["from"])
            end = int(request.query["to"])
        except (KeyError, ValueError):
            return _refuse(400, "bad_request", "from and to are ms since the epoch")
        settlement = self.app.settlement
        settlement.advance(self.app.clock())
        if not settlement.inputs.currencies.versions:
            return _refuse(409, "no_currency", "no currency has been adopted yet")
        doc = statement.statement(settlement, self.app.me, start, end)
        return web.json_response(doc)

    async def _currency(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return _refuse(401, "unauthorized", "a bearer token is required")
        try:
            doc = await request.json()
            now = self.app.clock()
            proposed, body = adoption.check_proposal(
                self.app.settlement.inputs.currencies,
                doc.get("proposal"),
                list(doc.get("approvals", [])),
                now,
            )
            entry, ticket = self.app.gate.append(kinds.CURRENCY, body, now)
        except SpecError as err:
            return _refuse(409, err.reason, err.detail)
        except (ValueError, AttributeError, TypeError, CanonicalError) as err:
            return _refuse(400, "bad_request", str(err))
        await self.app.gate.durable(ticket)
        return web.json_response(
            {
                "version": proposed.version,
                "effective": proposed.effective,
                "seq": entry.seq,
            }
        )


def state(app: WatApp) -> dict[str, object]:
    """The flat's WAT now: value, today's trades, the price in force."""
    now = app.clock()
    settlement = app.settlement
    settlement.advance(now)
    currency = settlement.currency(now)
    if currency is None:
        return {"currency": None}
    day = periods.floor(DAY, now, currency.tz)
    today = statement.statement(settlement, app.me, day, now + 1)
    first = settlement.inputs.currencies.versions[0].effective
    ever = statement.statement(settlement, app.me, first, now + 1)
    lines = today["lines"]
    assert isinstance(lines, list)
    sold = sum(_mwh(line, "sold") for line in lines)
    bought = sum(_mwh(line, "bought") for line in lines)
    book = settlement.book
    return {
        "currency": currency.name,
        "unit": currency.unit,
        "decimals": currency.decimals,
        "version": currency.version,
        # What was earned less what was spent, and what that holding is worth now.
        "balance": _int(ever["earned"]) - _int(ever["spent"]),
        "value_now": book.value_at(app.me, now),
        "earned_today": today["earned"],
        "spent_today": today["spent"],
        "price_now": book.price_at(currency, now),
        "sold_today_mwh": sold,
        "bought_today_mwh": bought,
        "settled_until": book.settled_until,
        "building_account": book.building_value(now),
        "flats": {
            member.flat: book.value_at(member.author, now)
            for member in settlement.rosters.at(now).members
        },
    }


def _mwh(line: JsonValue, kind: str) -> int:
    if isinstance(line, dict) and line.get("kind") == kind:
        value = line.get("mwh")
        return value if isinstance(value, int) else 0
    return 0


def _int(value: JsonValue) -> int:
    assert isinstance(value, int)
    return value


def _refuse(status: int, reason: str, detail: str) -> web.Response:
    return web.json_response({"error": reason, "detail": detail}, status=status)
