"""The kinds of entries and statements: names, schemas, arithmetic, retention, encoding.

PROTOCOL.md section 7, one idea per module:

* :mod:`.names`: the kinds, the body version, rollup levels and count keys;
* :mod:`.energy`: a flow's energy totals, their balance and their allocation;
* :mod:`.schemas`: every body's schema, and the kinds registered from above;
* :mod:`.folding`: which kinds retention deletes once a rollup counts them;
* :mod:`.encoder`: the fast canonical encoding of the flows this node writes.

The names are gathered here, so the rest of the sidecar writes ``kinds.FLOW`` or
``kinds.check_entry_body`` whichever module holds them.
"""

from sidecar.ledger.kinds.encoder import encode_flow
from sidecar.ledger.kinds.energy import (
    ENDPOINTS,
    PPM,
    TOLERANCE_MIN_MWH,
    TOLERANCE_PPM,
    Totals,
    allocate,
    balance,
    tolerance,
)
from sidecar.ledger.kinds.folding import foldable, folded, folded_kinds
from sidecar.ledger.kinds.names import (
    CHECKPOINT,
    COSIGN,
    FLOW,
    ROLLUP,
    ROLLUP_LEVELS,
    STATEMENT_KINDS,
    TOP_LEVEL,
    VERSION,
    WITNESSED,
    count_key,
    rollup_key,
    rollup_level,
)
from sidecar.ledger.kinds.schemas import (
    MAX_TRANSFERS,
    MAX_WITNESSED,
    BodyCheck,
    check_entry_body,
    check_flow,
    check_rollup,
    check_statement_body,
    check_witnessed,
    fully_checked,
    register,
    registered_kinds,
)

__all__ = [
    "CHECKPOINT",
    "COSIGN",
    "ENDPOINTS",
    "FLOW",
    "MAX_TRANSFERS",
    "MAX_WITNESSED",
    "PPM",
    "ROLLUP",
    "ROLLUP_LEVELS",
    "STATEMENT_KINDS",
    "TOLERANCE_MIN_MWH",
    "TOLERANCE_PPM",
    "TOP_LEVEL",
    "VERSION",
    "WITNESSED",
    "BodyCheck",
    "Totals",
    "allocate",
    "balance",
    "check_entry_body",
    "check_flow",
    "check_rollup",
    "check_statement_body",
    "check_witnessed",
    "count_key",
    "encode_flow",
    "foldable",
    "folded",
    "folded_kinds",
    "fully_checked",
    "register",
    "registered_kinds",
    "rollup_key",
    "rollup_level",
    "tolerance",
]
