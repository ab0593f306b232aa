"""Mutual authentication of two members by signed challenge (PROTOCOL.md 14.2).

Each side sends a fresh random nonce; each signs a transcript that binds the building,
both nonces, both author ids and its own role, so a proof cannot be replayed on another
connection, reflected back to its maker, or carried to another building.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Final, Literal

from sidecar.ledger.identity import Identity, KeyRing

TAG_AUTH: Final = b"lvpp-mesh-v1:auth\x00"
NONCE_BYTES: Final = 32

type Role = Literal["dialer", "listener"]


def new_nonce() -> bytes:
    """A fresh challenge."""
    return secrets.token_bytes(NONCE_BYTES)


@dataclass(frozen=True, slots=True)
class Exchange:
    """Everything one connection's proofs are bound to."""

    building: str
    dialer_nonce: bytes
    listener_nonce: bytes
    dialer: bytes
    listener: bytes

    def transcript(self, role: Role) -> bytes:
        """The 32 bytes the ``role`` side signs."""
        return hashlib.sha256(
            b"".join(
                (
                    TAG_AUTH,
                    role.encode(),
                    b"\x00",
                    self.building.encode(),
                    b"\x00",
                    self.dialer_nonce,
                    self.listener_nonce,
                    self.dialer,
                    self.listener,
                )
            )
        ).digest()


def prove(identity: Identity, role: Role, exchange: Exchange) -> bytes:
    """The proof of the side playing ``role`` (``identity`` must be that side)."""
    return identity.sign(exchange.transcript(role))


def check(keys: KeyRing, role: Role, exchange: Exchange, proof: bytes) -> bool:
    """Whether ``proof`` is the ``role`` side's valid signature for this connection."""
    signer = exchange.dialer if role == "dialer" else exchange.listener
    if signer not in keys:
        return False
    return keys.verify(signer, exchange.transcript(role), proof)
