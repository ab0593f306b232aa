"""The local API's token check, shared by every HTTP route the sidecar serves."""

from __future__ import annotations

import hmac

from aiohttp import web

from sidecar.mesh.guard import trust


def authorized(request: web.Request, token: bytes) -> bool:
    """Whether the request carries ``Authorization: Bearer <token>``."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    # Constant-time comparison: the token is the only thing guarding the ledger.
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token
    )


def admitted(request: web.Request, token: bytes) -> bool:
    """Whether the request carries the token; if so its connection is trusted.

    A trusted connection is no longer timed out as an unauthenticated one, so a
    client that keeps its connection open between polls keeps it.
    """
    if not authorized(request, token):
        return False
    trust(request)
    return True


def refusal(request: web.Request, token: bytes) -> web.Response | None:
    """The 401 answer for a request without the token, else None (see ``admitted``)."""
    if admitted(request, token):
        return None
    return web.json_response(
        {"error": "unauthorized", "detail": "send Authorization: Bearer <api_token>"},
        status=401,
    )
