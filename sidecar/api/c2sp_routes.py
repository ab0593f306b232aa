"""The node's C2SP endpoints: its checkpoint as a signed note, its keys, its witness.

Plain HTTP on the node's port, without the bearer token: what they serve is public,
and ``add-checkpoint`` is authenticated by the checkpoint's signature, as C2SP
tlog-witness has it (PROTOCOL.md, "Checkpoints as C2SP signed notes"):

* ``GET /c2sp/checkpoint``: the flat's newest checkpoint, a note signed with its key
  (with the outside witness's cosignature when it has cosigned that one);
* ``GET /c2sp/keys``: the origin, the verifier keys of the log and of the node's
  witness key, and how asking the outside witness went;
* ``POST /c2sp/witness/add-checkpoint``: the node as a tlog-witness of the other
  members' logs (its submission prefix is ``/c2sp/witness``).

The witness key is loaded, or made, when the application starts; the outside witness
is asked while it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from functools import partial
from typing import Final

from aiohttp import web

from sidecar.config import Config
from sidecar.ledger import signed_note, tlog
from sidecar.ledger.identity import Identity, KeyFileError
from sidecar.ledger.tlog import Checkpoint
from sidecar.mesh import c2sp_checkpoint, c2sp_submit
from sidecar.mesh.c2sp_checkpoint import NoteCache
from sidecar.mesh.c2sp_submit import ExternalWitness
from sidecar.mesh.c2sp_witness import TlogWitness
from sidecar.storage import store

CHECKPOINT_PATH: Final = "/c2sp/checkpoint"
KEYS_PATH: Final = "/c2sp/keys"
WITNESS_PREFIX: Final = "/c2sp/witness"

_LOGGER = logging.getLogger(__name__)


class C2spRoutes:
    """The C2SP view of one node."""

    def __init__(self, config: Config, identity: Identity) -> None:
        self._config = config
        self._identity = identity
        self._origin = c2sp_checkpoint.origin(config.building, identity.author)
        self._notes: NoteCache | None = None
        self._witness: TlogWitness | None = None
        self.external: ExternalWitness | None = None

    def add_routes(self, app: web.Application) -> None:
        """Register the endpoints, and the start and stop of the C2SP parts."""
        app.router.add_get(CHECKPOINT_PATH, self._checkpoint)
        app.router.add_get(KEYS_PATH, self._keys)
        app.router.add_post(f"{WITNESS_PREFIX}/add-checkpoint", self._add_checkpoint)
        app.cleanup_ctx.append(self._running)

    async def _running(self, _app: web.Application) -> AsyncIterator[None]:
        config = self._config
        self._notes = NoteCache(c2sp_checkpoint.log_signer(config, self._identity))
        self._witness = self._start_witness()
        task = None
        if config.c2sp_witness_url:
            self.external = ExternalWitness(
                url=config.c2sp_witness_url,
                verifier=signed_note.parse_vkey(config.c2sp_witness_key),
                notes=self._notes,
                data_dir=config.data_dir,
            )
            task = asyncio.create_task(
                c2sp_submit.run(
                    self.external,
                    config.c2sp_witness_every_s,
                    self._latest,
                    self._prove,
                )
            )
        yield
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _start_witness(self) -> TlogWitness | None:
        """The node's tlog-witness; None, logged, when its key cannot be had.

        The ledger does not depend on it, so the node runs on without it.
        """
        config = self._config
        try:
            signer, made = c2sp_checkpoint.witness_signer(config, self._identity)
        except (OSError, KeyFileError) as err:
            _LOGGER.error("The node's C2SP witness is off: %s", err)
            return None
        if made:
            _LOGGER.info(
                "Made the node's C2SP witness key; its verifier key is %s",
                signer.verifier.vkey(),
            )
        return TlogWitness(
            building=config.building,
            signer=signer,
            data_dir=config.data_dir,
            db_path=config.db_path,
        )

    def _latest(self) -> Checkpoint | None:
        job = partial(
            c2sp_checkpoint.latest,
            building=self._config.building,
            author=self._identity.author,
        )
        return c2sp_checkpoint.read(self._config.db_path, job)

    def _prove(self, first: int, second: int) -> list[bytes]:
        job = partial(
            c2sp_checkpoint.consistency,
            author=self._identity.author,
            first=first,
            second=second,
        )
        return c2sp_checkpoint.read(self._config.db_path, job)

    async def _checkpoint(self, _request: web.Request) -> web.Response:
        assert self._notes is not None
        try:
            checkpoint = await asyncio.to_thread(self._latest)
        except (sqlite3.Error, store.StoreError) as err:
            return web.Response(status=503, text=f"the ledger cannot be read: {err}\n")
        if checkpoint is None:
            return web.Response(status=404, text="no checkpoint has been signed yet\n")
        external = self.external
        cosigned = None if external is None else external.served(checkpoint)
        note = cosigned or self._notes.note(checkpoint)
        return web.Response(text=note, content_type="text/plain", charset="utf-8")

    async def _keys(self, _request: web.Request) -> web.Response:
        assert self._notes is not None
        witness = self._witness
        return web.json_response(
            {
                "origin": self._origin,
                "log_key": self._notes.verifier.vkey(),
                "witness_key": None
                if witness is None
                else witness.signer.verifier.vkey(),
                "witness_prefix": WITNESS_PREFIX,
                "witnessed": None
                if witness is None
                else {
                    "cosigned": witness.cosigned,
                    "refused": {str(k): v for k, v in sorted(witness.refused.items())},
                },
                "external_witness": None
                if self.external is None
                else self.external.status(),
            }
        )

    async def _add_checkpoint(self, request: web.Request) -> web.Response:
        if self._witness is None:
            return web.Response(status=503, text="this node's witness is off\n")
        # Read no more than a request can be: the endpoint needs no token.
        if (request.content_length or 0) > tlog.MAX_REQUEST_BYTES:
            return _too_large()
        body = await c2sp_submit.read_capped(request.content, tlog.MAX_REQUEST_BYTES)
        if body is None:
            return _too_large()
        try:
            answer = await self._witness.add_checkpoint(body)
        except (sqlite3.Error, store.StoreError) as err:
            return web.Response(status=503, text=f"the ledger cannot be read: {err}\n")
        return web.Response(
            status=answer.status,
            body=answer.text.encode(),
            headers={"Content-Type": answer.content_type},
        )


def _too_large() -> web.Response:
    return web.Response(
        status=413, text=f"a request is at most {tlog.MAX_REQUEST_BYTES} bytes\n"
    )
