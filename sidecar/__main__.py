"""``python -m sidecar``: the ledger node's command line."""

from sidecar.cli import main

raise SystemExit(main())
