"""The name the node's commands were run by, for the advice in error messages.

``python -m sidecar`` from a checkout, ``local-vpp-sidecar`` once installed: an
error that tells the installer what to run next names the command they used.
"""

from __future__ import annotations

_name = "python -m sidecar"


def use(name: str) -> None:
    """Name the commands ``name`` from now on (the command line does this first)."""
    global _name  # noqa: PLW0603 - set once per process, before any advice is given
    _name = name


def advice(arguments: str) -> str:
    """``arguments`` as a command to run, quoted: ``'local-vpp-sidecar init'``."""
    return f"'{_name} {arguments}'"
