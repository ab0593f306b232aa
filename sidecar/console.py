"""``local-vpp-sidecar``: the command an installed package puts on the PATH.

The same commands as ``python -m sidecar``; only the program name in help and usage
differs.
"""

from sidecar.cli import main as cli_main


def main() -> int:
    """Run one command of the installed ``local-vpp-sidecar``; returns the exit code."""
    return cli_main(prog="local-vpp-sidecar")
