"""A real sidecar and a witness written from the C2SP texts: checkpoints cosigned.

The node posts its checkpoint notes to the witness (c2sp.org/tlog-witness); the
witness checks them with code of its own (tests/sidecar/c2sp_spec_witness.py), and
the cosignatures the node keeps and serves verify under the witness's key.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from devkit import waiting
from devkit.sidecar_node import SidecarNode, sidecar_cli_here
from sidecar import config as config_module
from sidecar.config import ConfigError
from sidecar.ledger import signed_note
from sidecar.ledger.signed_note import CosignatureSigner, EcdsaSigner
from sidecar.mesh import c2sp_submit
from sidecar.mesh.c2sp_checkpoint import NoteCache
from sidecar.mesh.c2sp_submit import ExternalWitness
from sidecar.mesh.c2sp_witness import TlogWitness
from tests.sidecar.c2sp_spec_witness import (
    SpecWitness,
    ecdsa_ok,
    mth,
    split_note,
    trusted_log,
)
from tests.sidecar.support import ha_sample, init_site

WITNESS_NAME = "auditor.example/w1"


class Flat:
    """A running node, its samples so far and the ids of its entries."""

    def __init__(self, node: SidecarNode, keys: dict[str, str]) -> None:
        self.node = node
        self.keys = keys
        self.samples = 0
        self.start_ms = time.time_ns() // 1_000_000 - 600_000
        self.ids: list[bytes] = []

    @property
    def base(self) -> str:
        """The node's HTTP address."""
        return f"http://127.0.0.1:{self.node.port}"

    async def grow(self, session: aiohttp.ClientSession, count: int) -> int:
        """Add ``count`` entries and sign a checkpoint; the new tree size."""
        ws = await self.node.connect(session)
        first = self.samples == 0
        for _ in range(count + (1 if first else 0)):
            await ws.send_json(
                ha_sample(self.start_ms + self.samples * 1000, self.samples)
            )
            self.samples += 1
        for _ in range(count):
            ack = await ws.receive_json(timeout=15)
            assert ack["type"] == "entry", ack
            self.ids.append(bytes.fromhex(ack["id"]))
        await ws.send_json({"type": "checkpoint"})
        reply = await ws.receive_json(timeout=15)
        await ws.close()
        size: int = reply["checkpoint"]["body"]["size"]
        return size

    async def get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, str]:
        """GET a C2SP path: status and text."""
        async with session.get(self.base + path) as response:
            return response.status, await response.text()


@pytest.fixture
async def witness() -> AsyncIterator[SpecWitness]:
    """The spec witness, serving."""
    spec = SpecWitness(WITNESS_NAME)
    await spec.start()
    try:
        yield spec
    finally:
        await spec.stop()


async def _flat(tmp_path: Path, witness: SpecWitness) -> Flat:
    config = init_site(tmp_path)
    with config.open("a", encoding="utf-8") as handle:
        handle.write(
            f'\n[c2sp]\nwitness_url = "{witness.url}"\n'
            f'witness_key = "{witness.vkey}"\nwitness_every_s = 1\n'
        )
    keys = json.loads(sidecar_cli_here("c2sp-keys", "--config", str(config), "--json"))
    name, log = trusted_log(keys["log_key"])
    assert name == keys["origin"]
    witness.logs[name] = log
    node = SidecarNode(config)
    await node.start()
    return Flat(node, keys)


async def _stop(flat: Flat) -> None:
    if flat.node.process is not None and flat.node.process.returncode is None:
        await flat.node.stop()


def _cosigned(witness: SpecWitness, origin: str, size: int) -> bool:
    return witness.latest.get(origin, (0, b""))[0] == size


async def test_the_witness_cosigns_checkpoints_with_consistency_proofs(
    tmp_path: Path, witness: SpecWitness
) -> None:
    flat = await _flat(tmp_path, witness)
    origin = flat.keys["origin"]
    try:
        async with aiohttp.ClientSession() as session:
            status, _ = await flat.get(session, "/c2sp/checkpoint")
            assert status == 404  # nothing signed yet
            assert await flat.grow(session, 5) == 5
            await waiting.until(lambda: _cosigned(witness, origin, 5), 30)
            assert witness.answers == [(0, 200)]  # first contact: old size 0
            assert witness.latest[origin][1] == mth(flat.ids)  # the RFC 6962 root

            assert await flat.grow(session, 6) == 11
            await waiting.until(lambda: _cosigned(witness, origin, 11), 30)
            assert witness.answers[-1] == (5, 200)  # a proof from 5 to 11 verified
            assert witness.latest[origin][1] == mth(flat.ids)

            # The node serves its checkpoint with the witness's cosignature.
            await waiting.until(lambda: _served_size(flat) == 11, 30)
            status, note = await flat.get(session, "/c2sp/checkpoint")
            assert status == 200
            text, signatures = split_note(note)
            assert text.split("\n")[:2] == [origin, "11"]
            by_name = dict(signatures)
            assert ecdsa_ok(witness.logs[origin], text, by_name[origin][4:])
            assert witness.cosignature_ok(text, by_name[WITNESS_NAME])

            # A proof the witness cannot verify is refused: the node's own request
            # from 5 to 11, replayed with one hash changed.
            request = witness.bodies[-1]
            witness.latest[origin] = (5, mth(flat.ids[:5]))
            head, _, rest = request.decode().partition("\n\n")
            lines = head.split("\n")
            bad = bytes(32).hex()
            lines[1] = base64.b64encode(bytes.fromhex(bad)).decode()
            tampered = ("\n".join(lines) + "\n\n" + rest).encode()
            assert (await witness.post(tampered))[0] == 422
            assert (await witness.post(request))[0] == 200
    finally:
        await _stop(flat)


def _served_size(flat: Flat) -> int:
    keys = flat.node.config.parent / "data" / "c2sp-cosigned.txt"
    if not keys.exists():
        return 0
    return int(keys.read_text().split("\n")[1])


async def test_a_stale_size_is_learnt_from_a_409_and_failures_are_counted(
    tmp_path: Path, witness: SpecWitness
) -> None:
    flat = await _flat(tmp_path, witness)
    origin = flat.keys["origin"]
    try:
        async with aiohttp.ClientSession() as session:
            assert await flat.grow(session, 4) == 4
            await waiting.until(lambda: _cosigned(witness, origin, 4), 30)
        # The node forgets what the witness cosigned (its note file is lost).
        await flat.node.stop()
        (flat.node.config.parent / "data" / "c2sp-cosigned.txt").unlink()
        await flat.node.start()
        async with aiohttp.ClientSession() as session:
            assert await flat.grow(session, 3) == 7
            await waiting.until(lambda: _cosigned(witness, origin, 7), 30)
            # It asked with size 0, was told 4, and went on from 4.
            assert witness.answers[:3] == [(0, 200), (0, 409), (4, 200)]
            assert witness.answers[-1] == (4, 200)

            # The witness holds another root at 7: the node's next proof cannot
            # verify there. The refusals are counted, the ledger goes on.
            witness.latest[origin] = (7, bytes(32))
            assert await flat.grow(session, 2) == 9
            await waiting.until(lambda: (7, 422) in witness.answers, 30)
            assert await flat.grow(session, 1) == 10  # still signing entries
            status, text = await flat.get(session, "/c2sp/keys")
            assert status == 200
            failures = json.loads(text)["external_witness"]["failures"]
            assert failures["http_422"] >= 1
            # Refused again at each try, and logged only the first time.
            await waiting.until(lambda: witness.answers.count((7, 422)) >= 3, 30)
            assert flat.node.log.read_text().count("http_422") == 1
            assert _cosigned(witness, origin, 7)
    finally:
        await _stop(flat)


async def test_the_node_is_a_tlog_witness_of_the_buildings_logs(
    tmp_path: Path, witness: SpecWitness
) -> None:
    flat = await _flat(tmp_path, witness)
    endpoint = "/c2sp/witness/add-checkpoint"
    origin = flat.keys["origin"]
    # The node's witness key, read as the spec says: name + key ID + 0x04 || key.
    name, key_hex, material = flat.keys["witness_key"].split("+", 2)
    assert base64.b64decode(material)[0] == 0x04
    try:
        async with aiohttp.ClientSession() as session:
            assert await flat.grow(session, 3) == 3
            _, note = await flat.get(session, "/c2sp/checkpoint")
            text, _ = split_note(note)

            async def post(body: str) -> tuple[int, str, str]:
                async with session.post(flat.base + endpoint, data=body) as response:
                    return response.status, await response.text(), response.content_type

            status, answer, _ = await post("old 0\n\n" + note)
            assert status == 200
            line_name, blob = split_note(note + answer)[1][-1]
            assert line_name == name
            assert blob[:4].hex() == key_hex
            _check_cosignature(base64.b64decode(material)[1:], text, blob)

            status, answer, kind = await post("old 0\n\n" + note)
            assert (status, answer, kind) == (409, "3\n", "text/x.tlog.size")
            status, _, _ = await post("old 4\n\n" + note)
            assert status == 400  # the old size is above the checkpoint's
            forged = note.replace(f"{origin}\n3\n", f"{origin}\n2\n")
            assert (await post("old 3\n\n" + forged))[0] == 403
            stranger = note.replace(origin, "someone.example/log")
            assert (await post("old 0\n\n" + stranger))[0] == 404
            assert (await post("nonsense"))[0] == 400
            # A size no ledger can reach is malformed, not a fault of the node.
            huge = note.replace(f"{origin}\n3\n", f"{origin}\n{2**63}\n")
            assert (await post("old 0\n\n" + huge))[0] == 400
            # The endpoint needs no token: a body larger than any request is refused
            # before it is read, announced or not.
            assert (await post("old 0\n\n" + "x" * 1_000_000))[0] == 413

            async def unannounced() -> AsyncIterator[bytes]:
                for _ in range(100):
                    yield b"x" * 10_000

            async with session.post(
                flat.base + endpoint, data=unannounced()
            ) as response:
                assert response.status == 413

            assert await flat.grow(session, 2) == 5
            _, newer = await flat.get(session, "/c2sp/checkpoint")
            bad = base64.b64encode(bytes(32)).decode()
            assert (await post(f"old 3\n{bad}\n{bad}\n\n" + newer))[0] == 422
    finally:
        await _stop(flat)


def _check_cosignature(public: bytes, text: str, blob: bytes) -> None:
    timestamp = int.from_bytes(blob[4:12], "big")
    assert abs(timestamp - time.time()) < 600
    message = f"cosignature/v1\ntime {timestamp}\n{text}".encode()
    ed25519.Ed25519PublicKey.from_public_bytes(public).verify(blob[12:], message)


def test_the_witness_key_is_private_and_kept(tmp_path: Path) -> None:
    config = init_site(tmp_path)
    first = json.loads(sidecar_cli_here("c2sp-keys", "--config", str(config), "--json"))
    key_file = tmp_path / "data" / "witness.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    again = json.loads(sidecar_cli_here("c2sp-keys", "--config", str(config), "--json"))
    assert again == first
    key_file.chmod(0o644)
    with pytest.raises(AssertionError, match="chmod 600"):
        sidecar_cli_here("c2sp-keys", "--config", str(config))


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('witness_url = "http://127.0.0.1:9/w1"', "[c2sp] witness_key: is needed"),
        ('witness_url = "ftp://auditor.example/w1"', "must be an http:// or https://"),
        (
            'witness_key = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/'
            'LDE4izWy10TW"',
            "must be an Ed25519 cosignature/v1 key (type 0x04)",
        ),
        ('witness_key = "auditor.example/w1+00000000+BA=="', "is not a verifier key"),
        ("witness_every_s = 0", "[c2sp] witness_every_s: must be between"),
    ],
)
def test_a_bad_c2sp_section_is_refused_by_name(
    tmp_path: Path, section: str, message: str
) -> None:
    path = init_site(tmp_path)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n[c2sp]\n{section}\n")
    with pytest.raises(ConfigError) as caught:
        config_module.load(path)
    assert message in str(caught.value)


def _witness_over(data: Path) -> TlogWitness:
    """The node's witness over the records in ``data``, with a new key."""
    return TlogWitness(
        building="b",
        signer=CosignatureSigner("w.example/w", ed25519.Ed25519PrivateKey.generate()),
        data_dir=data,
        db_path=data / "ledger.db",
    )


async def test_a_damaged_witness_record_turns_the_witness_off_not_the_node(
    tmp_path: Path,
) -> None:
    (tmp_path / "c2sp-witness.json").write_text("{not json")
    witness = _witness_over(tmp_path)
    answer = await witness.add_checkpoint(b"old 0\n\n")
    assert answer.status == 503
    assert "Restore it from a backup" in answer.text


async def test_a_witness_key_without_its_record_does_not_cosign_again(
    tmp_path: Path,
) -> None:
    """A witness that lost its record could cosign a smaller or forked tree."""
    config = init_site(tmp_path)
    sidecar_cli_here("c2sp-keys", "--config", str(config))
    data = tmp_path / "data"
    assert json.loads((data / "c2sp-witness.json").read_text()) == {}
    (data / "c2sp-witness.json").unlink()
    witness = _witness_over(data)
    answer = await witness.add_checkpoint(b"old 0\n\n")
    assert answer.status == 503
    assert "is missing" in answer.text
    assert "remove witness.key as well" in answer.text


async def test_an_unusable_witness_key_turns_the_witness_off_not_the_node(
    tmp_path: Path,
) -> None:
    config = init_site(tmp_path)
    sidecar_cli_here("c2sp-keys", "--config", str(config))
    (tmp_path / "data" / "witness.key").chmod(0o644)
    node = SidecarNode(config)
    await node.start()
    flat = Flat(node, {})
    try:
        async with aiohttp.ClientSession() as session:
            assert await flat.grow(session, 2) == 2
            status, text = await flat.get(session, "/c2sp/keys")
            assert status == 200
            assert json.loads(text)["witness_key"] is None
            status, note = await flat.get(session, "/c2sp/checkpoint")
            assert status == 200  # the flat's own notes do not need that key
            endpoint = flat.base + "/c2sp/witness/add-checkpoint"
            async with session.post(endpoint, data="old 0\n\n" + note) as response:
                assert response.status == 503
        assert "chmod 600" in node.log.read_text()
    finally:
        await _stop(flat)


async def test_an_answer_in_pieces_is_read_whole_and_a_long_one_refused() -> None:
    async def pieces(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write("\u2014 w.example/w ".encode())
        await asyncio.sleep(0.2)
        await response.write(b"AAAA\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/", pieces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/") as response:
                whole = await c2sp_submit.read_capped(response.content, 1000)
            assert whole == "\u2014 w.example/w AAAA\n".encode()
            async with session.get(f"http://127.0.0.1:{port}/") as response:
                assert await c2sp_submit.read_capped(response.content, 10) is None
    finally:
        await runner.cleanup()


async def test_the_outside_witness_loop_outlives_a_fault_of_its_own(
    tmp_path: Path,
) -> None:
    keys = json.loads(
        sidecar_cli_here("c2sp-keys", "--config", str(init_site(tmp_path)), "--json")
    )
    outside = ExternalWitness(
        url="http://127.0.0.1:9/w",
        verifier=signed_note.parse_vkey(keys["witness_key"]),
        notes=NoteCache(
            EcdsaSigner("x.example/log", ec.generate_private_key(ec.SECP256R1()))
        ),
        data_dir=tmp_path,
    )
    calls = 0

    def broken() -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a record this node cannot open")

    task = asyncio.create_task(c2sp_submit.run(outside, 0.05, broken, lambda a, b: []))
    try:
        await waiting.until(lambda: calls >= 3, 10)
        assert not task.done()
        assert outside.failures["internal"] == calls
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
