"""The building's ledger mesh as the flat's sidecar reports it, and its repair issues.

The sidecar sends a ``mesh`` message after the welcome, on every change and at least
every 10 s. It is read defensively: a value of the wrong type counts as not said.
Besides the ledger's integrity it says whether the sidecar can write its store: a
full or read-only disk is a repair issue of its own, gone once the sidecar writes.
"""

from __future__ import annotations

from typing import Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect

from ..const import DOMAIN
from ..signals import LINK_CHANGED
from .messages import INTEGRITY_OK, MeshProblem, MeshStatus, parse_mesh
from .sidecar_link import SidecarLink

INTEGRITY_EQUIVOCATION: Final = "equivocation"
INTEGRITY_VERIFICATION_FAILED: Final = "verification_failed"
ISSUE_LEDGER_INTEGRITY: Final = "ledger_integrity"
ISSUE_LEDGER_STORAGE: Final = "ledger_storage"
STORAGE_FAULTS: Final = ("storage_full", "storage_readonly")


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
    """Raise repair issues while the sidecar reports broken integrity or storage."""

    def __init__(self, hass: HomeAssistant, entry_id: str, link: SidecarLink) -> None:
        """Follow ``link`` for the entry ``entry_id``."""
        self._hass = hass
        self._entry_id = entry_id
        self._link = link
        self.issue_id = f"{ISSUE_LEDGER_INTEGRITY}_{entry_id}"
        self.storage_issue_id = f"{ISSUE_LEDGER_STORAGE}_{entry_id}"
        self._raised: tuple[str, dict[str, str]] | None = None
        self._storage: str | None = None

    @callback
    def async_start(self) -> CALLBACK_TYPE:
        """Start following the link; returns the function that stops it."""
        return async_dispatcher_connect(
            self._hass, LINK_CHANGED.format(self._entry_id), self._update
        )

    @callback
    def _update(self) -> None:
        status = mesh_of(self._link)
        if status is None:
            return  # link down: the last verdicts stand until the next message
        self._update_storage(status.storage)
        if status.integrity is None:
            return  # nothing said: the last verdict stands until the next one
        if status.integrity == INTEGRITY_OK:
            self._clear_integrity()
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
    def _update_storage(self, storage: str | None) -> None:
        fault = storage if storage in STORAGE_FAULTS else None
        if fault == self._storage:
            return
        self._storage = fault
        if fault is None:
            ir.async_delete_issue(self._hass, DOMAIN, self.storage_issue_id)
            return
        ir.async_create_issue(
            self._hass,
            DOMAIN,
            self.storage_issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=f"{ISSUE_LEDGER_STORAGE}_{fault.removeprefix('storage_')}",
        )

    @callback
    def _clear_integrity(self) -> None:
        self._raised = None
        ir.async_delete_issue(self._hass, DOMAIN, self.issue_id)

    @callback
    def async_clear(self) -> None:
        """Remove the issues (the entry unloads)."""
        self._clear_integrity()
        self._storage = None
        ir.async_delete_issue(self._hass, DOMAIN, self.storage_issue_id)
