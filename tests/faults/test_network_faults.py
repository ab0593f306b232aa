"""Loss, delay, resets and a healed partition between the nodes of a building.

Injected: every mesh link of four nodes runs through a relay (:mod:`devkit.netfault`)
that delays each chunk 20–60 ms, loses 5 % of them once (a 200 ms stall, as a TCP
retransmission), resets 0.5 % of connections mid-stream, and for a while cuts the
building in two halves. ``tc netem`` would do the same in the kernel, but needs the
``sch_netem`` module, which these machines (and most containers) lack.
"""

from __future__ import annotations

from pathlib import Path

from devkit.netfault import Conditions, Network
from tests.faults.support import Feeder, audit, replicated
from tests.sidecar.mesh_support import Building

BAD = Conditions(delay_s=0.02, jitter_s=0.04, loss=0.05, retransmit_s=0.2, reset=0.005)


async def test_a_lossy_slow_network_and_a_healed_partition_lose_nothing(
    tmp_path: Path,
) -> None:
    """Under loss and delay, then split in two and healed, every node ends up with
    every acknowledged entry of every flat, none twice, and no one is accused.

    Links that a reset or the partition dropped are dialled again (with backoff);
    the anti-entropy vectors bring each side what the other wrote meanwhile.
    """
    async with Building(tmp_path / "b", 4) as building:
        nodes = [(f.name, f.author, f.port, f.config) for f in building.flats]
        async with Network(nodes, BAD) as network:
            await building.start()
            assert (await building.linked(30))[1] == 3
            feeder = Feeder(building)
            for flat in building.flats:
                await feeder.attach(flat)
            await feeder.produce(3, *building.flats)

            left, right = building.flats[:2], building.flats[2:]
            network.partition([f.name for f in left], [f.name for f in right])
            await feeder.produce(4, *building.flats)
            apart = [
                (await building.status(flat))["mesh"]["peers_online"]
                for flat in building.flats
            ]
            assert max(apart) <= 1, apart  # each half only sees itself

            network.heal()
            recovered = await replicated(feeder, building, building.flats, within=40)
            await feeder.produce(2, *building.flats)  # and on it goes
            await replicated(feeder, building, building.flats, within=20)
            # Not only the flows: every node holds the same head of every feed.
            await building.converged(within=20)

            result = await audit(building, feeder)
            statuses = [await building.status(flat) for flat in building.flats]
            refused: dict[str, int] = {}
            for status in statuses:
                for reason, count in status["rejected"].items():
                    refused[reason] = refused.get(reason, 0) + count
            assert all(flat.process.returncode is None for flat in building.flats)
            assert network.stats["lost"] > 0
            assert network.stats["refused"] > 0  # the partition turned dials away
            assert result.lost == 0, result
            assert result.duplicated == 0, result
            assert result.false_equivocations == 0, result.problems
            print(
                f"network faults: {result}, "
                f"recovered in {recovered:.1f} s; "
                f"network {dict(network.stats)}; refused by nodes {refused}"
            )
