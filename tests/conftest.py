"""Settings for every test tier."""

from __future__ import annotations

import pytest
from hypothesis import settings

# Property tests check behaviour, not time: on a loaded 2-core machine one example can
# take longer than hypothesis' default 200 ms deadline without anything being wrong.
settings.register_profile("local_vpp", deadline=None)
settings.load_profile("local_vpp")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``long`` first, each tier's order otherwise kept.

    The full run shares the tests among parallel workers: a minutes-long test that
    starts last would leave the other workers idle while it runs.
    """
    items.sort(key=lambda item: item.get_closest_marker("long") is None)
