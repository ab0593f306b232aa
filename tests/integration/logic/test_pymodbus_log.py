"""pymodbus's per-request failures are demoted to DEBUG; its other messages are not."""

from __future__ import annotations

import logging

import pytest
from pymodbus.logging import Log

from custom_components.local_vpp.device.pymodbus_log import (
    PYMODBUS_LOGGER,
    demote_per_request_errors,
)

TIMEOUT = "No response received after 0 retries, continue with next request"


def test_per_request_failures_and_their_repeats_are_debug(
    caplog: pytest.LogCaptureFixture,
) -> None:
    demote_per_request_errors()
    demote_per_request_errors()  # once per process, however often it is called
    logger = logging.getLogger(PYMODBUS_LOGGER)
    assert len(logger.filters) == 1
    Log.last_log_text = ""
    with caplog.at_level(logging.DEBUG, logger=PYMODBUS_LOGGER):
        Log.error(TIMEOUT)
        Log.error(TIMEOUT)  # pymodbus logs it as "Repeating...."
        Log.error("ERROR: request ask for transaction_id=7 but got id=6, Skipping.")
        Log.error("Something else went wrong")
        Log.error("Something else went wrong")
    levels = [(r.getMessage()[:20], r.levelname) for r in caplog.records]
    assert levels == [
        (TIMEOUT[:20], "DEBUG"),
        ("Repeating....", "DEBUG"),
        ("ERROR: request ask f", "DEBUG"),
        ("Something else went ", "ERROR"),
        ("Repeating....", "ERROR"),
    ]
