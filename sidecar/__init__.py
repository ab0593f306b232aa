"""The Local VPP ledger node: signs a flat's energy flows and keeps them verifiable.

The sidecar is its own program: it never imports the Home Assistant integration or the
simulator. The protocol it implements is specified in docs/PROTOCOL.md.
"""

__version__ = "0.1.0"
