"""The building's ledger mesh as the flat's sidecar reports it, and its repair issue.

The sidecar sends a ``mesh`` message after the welcome, on every change and at least
every 10 s. It is read defensively: a value of the wrong type counts as not said.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from ..const import DOMAIN
from ..signals import LINK_CHANGED
from .sidecar_link import SidecarLink

INTEGRITY_OK: Final = "ok"
INTEGRITY_EQUIVOCATION: Final = "equivocation"
INTEGRITY_VERIFICATION_FAILED: Final = "verification_failed"
ISSUE_LEDGER_INTEGRITY: Final = "ledger_integrity"


def _int(value: Any) -> int | None:
    # bool is an int to Python, never to the sidecar.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class MeshProblem:
    """One piece of evidence the sidecar keeps against a member."""

    kind: str
    flat: str | None
    author: str | None
    seq: int | None
    detail: str | None


@dataclass(frozen=True, slots=True)
class MeshStatus:
    """What one ``mesh`` message says."""

    roster_version: int | None
    roster_size: int | None
    peers_online: int | None
    witnessed_ts_ms: int | None
    witnessed_size: int | None
    integrity: str | None
    problems: tuple[MeshProblem, ...]
    peers: tuple[dict[str, Any], ...]

    @property
    def integrity_ok(self) -> bool | None:
        """Whether the ledger checks out; ``None`` when the sidecar did not say."""
        return None if self.integrity is None else self.integrity == INTEGRITY_OK


def parse_mesh(message: Mapping[str, Any]) -> MeshStatus:
    """Read a ``mesh`` message; what is missing or malformed is ``None``."""
    witnessed = message.get("witnessed")
    if not isinstance(witnessed, Mapping):
        witnessed = {}
    problems = message.get("problems")
    peers = message.get("peers")
    return MeshStatus(
        roster_version=_int(message.get("roster_version")),
        roster_size=_int(message.get("roster_size")),
        peers_online=_int(message.get("peers_online")),
        witnessed_ts_ms=_int(witnessed.get("ts")),
        witnessed_size=_int(witnessed.get("size")),
        integrity=_str(message.get("integrity")),
        problems=tuple(
            MeshProblem(
                kind=_str(problem.get("kind")) or "unknown",
                flat=_str(problem.get("flat")),
                author=_str(problem.get("author")),
                seq=_int(problem.get("seq")),
                detail=_str(problem.get("detail")),
            )
            for problem in (problems if isinstance(problems, list) else [])
            if isinstance(problem, Mapping)
        ),
        peers=tuple(
            dict(peer)
            for peer in (peers if isinstance(peers, list) else [])
            if isinstance(peer, Mapping)
        ),
    )


def mesh_of(link: SidecarLink | None) -> MeshStatus | None:
    """The link's newest mesh status, ``None`` while the link is down or silent."""
    if link is None or not link.connected or link.mesh is None:
        return None
    return parse_mesh(link.mesh)


def _member(problem: MeshProblem) -> str:
    if problem.flat:
        return problem.flat
    return (problem.author or "?")[:12]


def issue_placeholders(status: MeshStatus) -> tuple[str, dict[str, str]]:
    """The translation key and placeholders of the integrity issue for ``status``."""
    equivocations = [p for p in status.problems if p.kind == INTEGRITY_EQUIVOCATION]
    if status.integrity == INTEGRITY_EQUIVOCATION or equivocations:
        shown = equivocations or list(status.problems)
        key = f"{ISSUE_LEDGER_INTEGRITY}_{INTEGRITY_EQUIVOCATION}"
    else:
        shown = list(status.problems)
        key = f"{ISSUE_LEDGER_INTEGRITY}_{INTEGRITY_VERIFICATION_FAILED}"
    flats = sorted({_member(p) for p in shown})
    seqs = sorted({p.seq for p in shown if p.seq is not None})
    details = [p.detail for p in shown if p.detail]
    return key, {
        "flats": ", ".join(flats) or "?",
        "seq": ", ".join(str(seq) for seq in seqs) or "?",
        "detail": "; ".join(details)[:200] or "-",
    }


class MeshIssueReporter:
    """Raise a repair issue while the sidecar reports broken ledger integrity."""

    def __init__(self, hass: HomeAssistant, entry_id: str, link: SidecarLink) -> None:
        """Follow ``link`` for the entry ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id
        self._link = link
        self.issue_id = f"{ISSUE_LEDGER_INTEGRITY}_{entry_id}"
        self._raised: tuple[str, dict[str, str]] | None = None

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Start following the link; returns the function that stops it."""
        return async_dispatcher_connect(
            self._hass, LINK_CHANGED.format(self._entry_id), self._update
        )

    @callback
    def _update(self) -> None:
        status = mesh_of(self._link)
        if status is None or status.integrity is None:
            # Link down or nothing said: the last verdict stands until the next one.
            return
        if status.integrity == INTEGRITY_OK:
            self.async_clear()
            return
        raised = issue_placeholders(status)
        if raised == self._raised:
            return
        self._raised = raised
        key, placeholders = raised
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=key,
            translation_placeholders=placeholders,
        )

    @callback
    def async_clear(self) -> None:
        """Remove the issue (integrity is back, or the entry unloads)."""
        self._raised = None
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)
