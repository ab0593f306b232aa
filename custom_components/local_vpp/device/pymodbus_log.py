"""Keep pymodbus's per-request failures out of the log at error level.

pymodbus logs an ERROR for every request that timed out, for every late answer it
skips and for every answer that is not even a frame (with a hex dump), and also
raises the failure to the caller. The caller (the coordinator) logs one line when
the device starts failing and one when it recovers; a device that is slow, drops
mid-read or sends line noise would otherwise add an ERROR per request per poll.
These records are demoted to DEBUG, where they stay available for troubleshooting;
any other pymodbus message keeps its level.
"""

from __future__ import annotations

import logging

PYMODBUS_LOGGER = "pymodbus.logging"
# Failures that pymodbus also raises to its caller, or that follow from one.
_PER_REQUEST = (
    "No response received after",
    "ERROR: request ask for transaction_id=",
    "ERROR: request ask for id=",
    # Line noise instead of a frame: pymodbus drops it and the request times out.
    "Invalid Modbus protocol id",
)
_REPEATED = "Repeating...."


class DemotePerRequestErrors(logging.Filter):
    """Turn pymodbus's per-request error records into DEBUG records.

    pymodbus logs a message that repeats the one before as ``Repeating....``, once:
    that follows the fate of the record it repeats.
    """

    def __init__(self) -> None:
        """Start with no record seen."""
        super().__init__()
        self._last_demoted = False

    def filter(self, record: logging.LogRecord) -> bool:
        """Demote the record if it is one of pymodbus's per-request failures."""
        text = str(record.msg)
        if text.startswith(_REPEATED):
            demote = self._last_demoted
        else:
            demote = text.startswith(_PER_REQUEST)
            self._last_demoted = demote
        if demote and record.levelno >= logging.WARNING:
            record.levelno = logging.DEBUG
            record.levelname = logging.getLevelName(logging.DEBUG)
        return True


def demote_per_request_errors() -> None:
    """Install the filter on pymodbus's logger, once per process."""
    logger = logging.getLogger(PYMODBUS_LOGGER)
    if not any(isinstance(f, DemotePerRequestErrors) for f in logger.filters):
        logger.addFilter(DemotePerRequestErrors())
