"""Clock jumps on one node of three: minutes backwards, then a minute forwards.

Injected: the wall clock of ONE sidecar process jumps while it runs (an LD_PRELOAD
shim from :mod:`devkit.clock_shim` offsets CLOCK_REALTIME for that process only; the
monotonic clock, like a real clock step, does not move). Its peers and the samples'
own timestamps keep true time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from devkit import processes
from devkit.building import Flat
from devkit.clock_shim import ClockShim, ShimUnavailable
from tests.faults.support import Feeder, audit
from tests.sidecar.mesh_support import Building

MINUTE_MS = 60_000


def shimmed(shim: ClockShim, jumper: Flat) -> Callable[[Flat], list[str] | None]:
    """The command line: the jumping flat runs with the shim, the others plainly."""

    def command(flat: Flat) -> list[str] | None:
        if flat is not jumper:
            return None
        return shim.command(
            processes.module_command("sidecar", "run", "--config", str(flat.config))
        )

    return command


@pytest.fixture
def shim(tmp_path: Path) -> ClockShim:
    try:
        return ClockShim(tmp_path / "shim")
    except ShimUnavailable as err:
        pytest.skip(str(err))


async def test_a_clock_jumping_back_minutes_refuses_samples_and_accuses_no_one(
    tmp_path: Path, shim: ClockShim
) -> None:
    """The node's clock steps 3 minutes back for a few seconds, then forward again.

    Samples stamped by Home Assistant's true clock are then ahead of the node's: each
    is refused as ``in_future`` (counted, answered), never a crash. The node's feed
    never goes back in time, so no peer sees two entries for one seq or a chain out
    of order, and once the clock is right the peers hold everything it acknowledged.
    """
    async with Building(tmp_path / "b", 3) as building:
        jumper = building.flats[0]
        await building.start(command=shimmed(shim, jumper))
        assert (await building.linked(30))[1] == 2
        feeder = Feeder(building)
        for flat in building.flats:
            await feeder.attach(flat)
        await feeder.produce(2, *building.flats)

        shim.set(-3 * MINUTE_MS)
        await feeder.produce(3, *building.flats)
        during = await building.status(jumper)  # it still serves
        assert during["rejected"].get("in_future", 0) > 0

        shim.set(0)
        healed = time.monotonic()
        await feeder.produce(2, *building.flats)
        heads = await building.converged(within=30)
        recovered = time.monotonic() - healed

        result = await audit(building, feeder)
        assert jumper.process is not None
        assert jumper.process.returncode is None
        assert feeder.acks[jumper.name].rejected["in_future"] > 0
        assert result.lost == 0, result
        assert result.duplicated == 0, result
        assert result.false_equivocations == 0, result.problems
        assert jumper.author.hex() in heads
        print(
            f"clock back 3 min: {result}, "
            f"recovered in {recovered:.1f} s, "
            f"refused {dict(feeder.acks[jumper.name].rejected)}"
        )


@pytest.mark.long
async def test_a_clock_jumping_a_minute_ahead_is_refused_by_peers_then_caught_up(
    tmp_path: Path, shim: ClockShim
) -> None:
    """The node's clock steps 1 minute ahead for a few seconds, then back.

    What it signs meanwhile is stamped a minute ahead, and its feed may not go back
    in time, so its next entries keep that stamp. Peers refuse them as
    ``clock_skew`` (counted) until their own clocks are within the allowed skew of
    it, then take the whole feed: nothing lost, nothing doubled, no one accused.
    """
    async with Building(tmp_path / "b", 3) as building:
        jumper, *others = building.flats
        await building.start(command=shimmed(shim, jumper))
        assert (await building.linked(30))[1] == 2
        feeder = Feeder(building)
        for flat in building.flats:
            await feeder.attach(flat)
        await feeder.produce(2, *building.flats)

        shim.set(MINUTE_MS)
        await feeder.produce(3, *building.flats)
        shim.set(0)
        healed = time.monotonic()
        await feeder.produce(2, *building.flats)
        await building.converged(within=50)
        recovered = time.monotonic() - healed

        result = await audit(building, feeder)
        statuses = [await building.status(flat) for flat in others]
        refused = sum(s["rejected"].get("clock_skew", 0) for s in statuses)
        assert jumper.process is not None
        assert jumper.process.returncode is None
        assert refused > 0, "the peers took entries stamped a minute ahead"
        assert result.lost == 0, result
        assert result.duplicated == 0, result
        assert result.false_equivocations == 0, result.problems
        print(
            f"clock ahead 1 min: {result}, "
            f"recovered in {recovered:.1f} s, "
            f"peers refused {refused}"
        )
