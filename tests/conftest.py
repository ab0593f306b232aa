"""Settings for every test tier."""

from __future__ import annotations

from hypothesis import settings

# Property tests check behaviour, not time: on a loaded 2-core machine one example can
# take longer than hypothesis' default 200 ms deadline without anything being wrong.
settings.register_profile("local_vpp", deadline=None)
settings.load_profile("local_vpp")
