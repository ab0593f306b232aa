"""The demo's story: a day in the building on the simulator's accelerated clock.

``scenario``: the simulator scenario (JSON): the building for the story (a clear
day, small batteries that keep half for a power cut, every flat on the bus).
``tell``: run the story once Home Assistant is ready, printing one line per phase:
what is happening and where to look. It makes the evening peak and the power cut
through the simulator's control API when the simulated clock reaches them, and
reads Home Assistant's REST API (as the demo user).

The phases, in simulated time: noon sun (the neighbours use each other's surplus),
the evening peak from 17:30 (the building's peak-shaving automation asks for a group
discharge), a power cut at 18:45 for an hour (every living room on battery; the low
battery is helped over the building bus), the grid's return (the living rooms go
back once the grid has been stable for the reconnection delay).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from demo_config import login

PEAK_AT = timedelta(hours=17, minutes=30)
CUT_AT = timedelta(hours=18, minutes=45)
CUT_FOR = timedelta(hours=1)
PEAK_LOADS = 2.5
# The household of the flat that helps over the bus is out for the evening.
AWAY_LOAD = 0.1
# The first phase lasts at least this long, whatever the start time.
MIN_NOON = timedelta(minutes=20)


def _of_day(clock: str) -> timedelta:
    hours, minutes = (int(part) for part in clock.split(":"))
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(clock)
    return timedelta(hours=hours, minutes=minutes)


def story_times(begin: timedelta) -> dict[str, float]:
    """Seconds after ``begin`` (a time of day) of the peak, the cut and the return."""
    peak = max(PEAK_AT - begin, MIN_NOON)
    cut = peak + (CUT_AT - PEAK_AT)
    return {
        "peak": peak.total_seconds(),
        "cut": cut.total_seconds(),
        "back": (cut + CUT_FOR).total_seconds(),
        "calm": (cut + CUT_FOR + timedelta(minutes=30)).total_seconds(),
    }


def scenario(start: str, flats: int) -> dict[str, Any]:
    """The simulator scenario for ``flats`` flats starting at ``start`` (HH:MM)."""
    _of_day(start)
    # The last flat's battery is nearly empty: the bus helps it in the power cut.
    low = (1 / flats, 6.0, 9.0)
    full = (1 - 1 / flats, 70.0, 90.0)
    return {
        "name": "demo_day",
        "description": "A clear day: noon sun, evening peak, power cut, return",
        "start": f"2026-01-15T{start}:00",
        "duration_s": 24 * 3600,
        "settings": {
            "cloud_cover": 0.0,
            # A third of each battery is kept for a power cut, whatever the peak
            # took; above it there is enough to shave the peak.
            "reserve_pct": 30.0,
            "capacity_bands": [[1.0, 3000.0, 6000.0]],
            "soc_bands": [list(full), list(low)] if flats > 1 else [[1.0, 6.0, 9.0]],
            "bus_wired_share": 1.0,
        },
        "steps": [],
    }


class Home:
    """What the story reads: the simulator and Home Assistant."""

    def __init__(self, control_port: int, ha_port: int, user: str, password: str):
        """Log in to Home Assistant as ``user``."""
        self.control = f"http://127.0.0.1:{control_port}"
        self.base = f"http://127.0.0.1:{ha_port}"
        self.token = login(self.base, user, password)

    def building(self) -> dict[str, Any]:
        """The simulator's state of the building."""
        with urllib.request.urlopen(f"{self.control}/state", timeout=10) as reply:
            state: dict[str, Any] = json.load(reply)["state"]
        return state

    def act(self, action: str, body: dict[str, Any]) -> None:
        """A building action of the simulator (``loads``, ``outage``)."""
        request = urllib.request.Request(
            f"{self.control}/{action}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass

    def states(self) -> dict[str, str]:
        """Every entity's state in Home Assistant."""
        request = urllib.request.Request(
            f"{self.base}/api/states",
            headers={"Authorization": f"Bearer {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as reply:
            return {item["entity_id"]: item["state"] for item in json.load(reply)}

    def set_number(self, entity_id: str, value: float) -> None:
        """Set a number entity, as a resident would on its card."""
        request = urllib.request.Request(
            f"{self.base}/api/services/number/set_value",
            data=json.dumps({"entity_id": entity_id, "value": value}).encode(),
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass


def _clock(state: dict[str, Any]) -> str:
    return datetime.fromisoformat(state["time"]).strftime("%H:%M")


def _kw(watts: float) -> str:
    return f"{watts / 1000:.1f} kW"


def _rooms_on_battery(
    building: dict[str, Any], states: dict[str, str], flats: list[str], entity: str
) -> tuple[int, int]:
    """(living rooms on battery, how many of them Home Assistant cannot see).

    Home Assistant's switch says it for each flat whose living room it measures. A
    flat whose inverter's backup output switches by itself with nothing measuring the
    room (SunSpec 1xx here) shows the switch unavailable; for it the simulator says.
    """
    simulated = {
        flat["flat"]: bool(flat["living_room"]["on_battery"])
        for flat in building["flats"]
    }
    on, unseen = 0, 0
    for flat in flats:
        state = states.get(entity.format(flat=flat))
        if state == "unavailable":
            unseen += 1
            on += simulated.get(flat, False)
        else:
            on += state == "on"
    return on, unseen


def keep_for_the_bus(
    home: Home, building: dict[str, Any], states: dict[str, str], flats: list[str]
) -> str | None:
    """Keep one bus flat's battery for its neighbours in a power cut.

    A battery at its reserve has nothing to give over the bus, and the evening (its
    own household, then peak shaving) takes every battery it can down to its
    reserve. The fullest bus flat other than the lowest one has its household out for
    the evening and takes no share of group discharges (its "maximum share" at 0 %,
    as a resident may set it); it still helps its neighbours in a cut. Returns it.
    """
    soc = {flat["flat"]: flat["soc_pct"] for flat in building["flats"]}
    on_bus = [f for f in flats if f"sensor.flat_{f}_battery_bus_power" in states]
    if len(on_bus) < 2:
        return None
    lowest = min(on_bus, key=lambda f: soc.get(f, 0.0))
    donor = max((f for f in on_bus if f != lowest), key=lambda f: soc.get(f, 0.0))
    home.act(f"flats/{donor}/household", {"factor": AWAY_LOAD})
    home.set_number(f"number.flat_{donor}_battery_maximum_share", 0)
    return donor


def tell(home: Home, flats: list[str], timeout_s: float) -> int:
    """Print each phase as it lands; 0 once the grid is back everywhere."""
    deadline = time.monotonic() + timeout_s
    on_battery = "switch.flat_{flat}_battery_living_room_on_battery"
    now = datetime.fromisoformat(home.building()["time"])
    origin = now.replace(hour=0, minute=0, second=0, microsecond=0)
    times = story_times(now - origin)
    begin = now
    # What the story does to the building, in order, on the simulated clock.
    acts = [
        (times["peak"], "loads", {"factor": PEAK_LOADS}),
        (times["cut"], "outage", {"on": True}),
        (times["back"], "outage", {"on": False}),
        (times["calm"], "loads", {"factor": 1.0}),
    ]

    def act_when_due(building: dict[str, Any]) -> None:
        elapsed = (datetime.fromisoformat(building["time"]) - begin).total_seconds()
        while acts and acts[0][0] <= elapsed:
            _, action, body = acts.pop(0)
            home.act(action, body)

    def wait(
        what: str, done: Callable[[dict[str, Any], dict[str, str]], bool]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        while True:
            building = home.building()
            act_when_due(building)
            states = home.states()
            if done(building, states):
                return building, states
            if time.monotonic() > deadline:
                print(f"  (the story stopped waiting for {what})", flush=True)
                raise TimeoutError(what)
            time.sleep(0.5)

    try:
        building, states = wait("the first reading", lambda b, s: bool(s))
        pv = sum(flat["pv_w"] for flat in building["flats"])
        load = sum(flat["load_w"] for flat in building["flats"])
        print(
            f"[{_clock(building)}] Sun: {_kw(pv)} of PV on {len(flats)} roofs"
            f" against {_kw(load)} of use; what one flat has spare its neighbours"
            " use. Look at the building dashboard's energy flows and gauges.",
            flush=True,
        )
        donor = keep_for_the_bus(home, building, states, flats)
        if donor is not None:
            print(
                f"[{_clock(building)}] Flat {donor} is out for the evening and keeps"
                " its battery out of the building's group discharges (its 'Maximum"
                " share' is 0 %): in a power cut it can help a neighbour over the"
                " building bus.",
                flush=True,
            )
        groups = [
            f"binary_sensor.flat_{flat}_battery_group_discharge_active"
            for flat in flats
        ]

        def cut_due(building: dict[str, Any]) -> bool:
            return not building["grid"]["up"]

        building, states = wait(
            "the group discharge",
            lambda b, s: any(s.get(g) == "on" for g in groups) or cut_due(b),
        )
        if any(states.get(g) == "on" for g in groups):
            print(
                f"[{_clock(building)}] Evening peak: the building draws"
                f" {states.get('sensor.building_demand', '?')} W; its peak-shaving"
                " automation asked every battery to discharge together (a"
                " notification in each flat says why and what its battery gives).",
                flush=True,
            )
        else:
            print(
                f"[{_clock(building)}] Evening peak: no battery had energy above its"
                " reserve to give, so there was no group discharge.",
                flush=True,
            )
        building, states = wait(
            "the power cut",
            lambda b, s: (
                not b["grid"]["up"]
                and _rooms_on_battery(b, s, flats, on_battery)[0] == len(flats)
            ),
        )
        unseen = _rooms_on_battery(building, states, flats, on_battery)[1]
        print(
            f"[{_clock(building)}] Power cut: all {len(flats)} living rooms run on"
            " their batteries (see 'Living-room supply' and the notifications)"
            + (
                f"; {unseen} of them by the inverter's own backup output, which"
                " nothing in the flat measures"
                if unseen
                else ""
            )
            + ".",
            flush=True,
        )
        building, states = wait(
            "the bus", lambda b, s: b["bus"]["exported_w"] > 0 or b["grid"]["up"]
        )
        low = min(building["flats"], key=lambda flat: flat["soc_pct"])
        if building["bus"]["exported_w"] > 0:
            print(
                f"[{_clock(building)}] Low battery: flat {low['flat']} is at"
                f" {low['soc_pct']:.0f} %; its neighbours send"
                f" {building['bus']['exported_w']:.0f} W over the building bus.",
                flush=True,
            )
        else:
            print(
                f"[{_clock(building)}] The building bus carried nothing during the"
                f" cut (the lowest battery, flat {low['flat']}'s, is at"
                f" {low['soc_pct']:.0f} %).",
                flush=True,
            )
        building, states = wait("the grid", lambda b, s: b["grid"]["up"])
        print(
            f"[{_clock(building)}] The grid is back: the living rooms wait for the"
            " reconnection delay before they leave their batteries.",
            flush=True,
        )
        building, states = wait(
            "the living rooms",
            lambda b, s: _rooms_on_battery(b, s, flats, on_battery)[0] == 0,
        )
        print(
            f"[{_clock(building)}] Every living room is back on the grid. The day is"
            " in every flat's ledger as signed entries; what each sidecar holds:"
            " .venv/bin/python scripts/demo_building.py status"
            " .demo/building/manifest.json",
            flush=True,
        )
    except TimeoutError:
        return 1
    return 0


def main() -> None:
    """Run one of the steps."""
    parser = argparse.ArgumentParser(description=__doc__)
    steps = parser.add_subparsers(dest="step", required=True)
    make = steps.add_parser("scenario")
    make.add_argument("path", type=Path)
    make.add_argument("--start", default="11:30")
    make.add_argument("--flats", type=int, required=True)
    follow = steps.add_parser("tell")
    follow.add_argument("--control-port", type=int, required=True)
    follow.add_argument("--ha-port", type=int, required=True)
    follow.add_argument("--user", required=True)
    follow.add_argument("--password", required=True)
    follow.add_argument("--manifest", type=Path, required=True)
    follow.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    if args.step == "scenario":
        try:
            data = scenario(args.start, args.flats)
        except ValueError:
            sys.exit(f"--start takes a time of day such as 11:30, not {args.start!r}")
        args.path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        return
    manifest = json.loads(args.manifest.read_text(encoding="utf-8"))
    flats = [flat["flat"] for flat in manifest["flats"]]
    home = Home(args.control_port, args.ha_port, args.user, args.password)
    sys.exit(tell(home, flats, args.timeout))


if __name__ == "__main__":
    main()
