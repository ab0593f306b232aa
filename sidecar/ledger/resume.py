"""Where a node's flows go on after a restart: the last durable flow's end.

The flow builder's position (the counter reading, per quantity, that the signed flows
account up to) is kept in a small file beside the database, written after each
flow is durable. On start the node takes the end of its last durable flow from the
feed; the file's position is used only when it belongs to that very end, so the
stretch up to the first new sample is booked from the counters (PROTOCOL.md 12.5).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

_LOG = logging.getLogger(__name__)
FILE_NAME = "flow_position.json"


def path_in(data_dir: Path) -> Path:
    """The position file in a node's data directory."""
    return data_dir / FILE_NAME


@dataclass(frozen=True, slots=True)
class Resume:
    """The end of the last flow, and the position the flows account up to there."""

    end: int
    position: dict[str, float] = field(default_factory=dict)  # quantity → mWh
    estimating: dict[str, int] = field(default_factory=dict)  # quantity → since (ms)


def save(path: Path, resume: Resume) -> None:
    """Write the position atomically (a crash leaves the old file or the new one)."""
    data = {
        "end": resume.end,
        "position": resume.position,
        "estimating": resume.estimating,
    }
    spare = path.with_name(path.name + ".new")
    spare.write_text(json.dumps(data, sort_keys=True))
    os.replace(spare, path)


def load(path: Path, end: int) -> Resume:
    """The resume point at ``end``; with the file's position if it is of that end."""
    try:
        data = json.loads(path.read_text())
        if data["end"] == end:
            return Resume(
                end,
                {str(k): float(v) for k, v in data["position"].items()},
                {str(k): int(v) for k, v in data["estimating"].items()},
            )
        _LOG.warning(
            "flow position in %s is of %s, the last flow ends at %s: the time up to "
            "the next sample is booked without counters",
            path,
            data["end"],
            end,
        )
    except FileNotFoundError:
        pass
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        _LOG.warning("cannot read the flow position in %s: %s", path, err)
    return Resume(end)
