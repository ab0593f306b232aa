"""Granular certificates after the EnergyTag Granular Certificate standard (v2).

One certificate per flat, hour, source and use, in whole Wh (docs/ORIGIN.md).
The certificates of one flat-hour travel together in a *bundle* that states once
what they share: the period, the device, the location, the Storage Charge and
Discharge Record of the hour, and the hourly rollup that sums the entries they are
made of. A certificate's id is the SHA-256 of the canonical JSON of the shared
members and its own, so changing any figure changes the id.

Every renewable Wh is claimed at most once by construction: each part of a flat's
energy is one certificate whose status says where it stands. ``claimed``: used for
the consumption claim of the flat that consumed it. ``cancelled``: spent into
another record (the Storage Charge Record, or the neighbours' consumption
certificates), which carries it on. ``active``: exported to the grid, issued and
not claimed by anyone in the building, left for whoever buys the export to claim
outside the ledger.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Final

from sidecar.apps.origin import model
from sidecar.apps.origin.hourly import Flat
from sidecar.apps.origin.model import FlatHour
from sidecar.ledger import canonical
from sidecar.ledger.canonical import JsonObject, JsonValue
from sidecar.ledger.kinds import periods

SCHEME: Final = "lvpp-gc-1"
STORAGE_METHOD: Final = "weighted_average"
ACTIVE: Final = "active"
CLAIMED: Final = "claimed"
CANCELLED: Final = "cancelled"
STATUS: Final = {
    model.CONSUMPTION: CLAIMED,
    model.EXPORT_GRID: ACTIVE,
    model.STORAGE: CANCELLED,
    model.EXPORT_NEIGHBOURS: CANCELLED,
}
_ORDER: Final = {
    (source, use): number
    for number, (source, use) in enumerate(
        (source, use) for source in model.SOURCES for use in model.USES
    )
}


def whole_wh(mwh: int, ren_mwh: int) -> tuple[int, int]:
    """Energy and renewable energy in whole Wh, both rounded down."""
    wh = mwh // 1000
    return wh, min(ren_mwh // 1000, wh)


def local_time(ms: int, tz: str) -> str:
    """An instant as ISO 8601 local time with its UTC offset."""
    return datetime.fromtimestamp(ms / 1000, periods.zone(tz)).isoformat()


def certificate_id(shared: JsonObject, own: JsonObject) -> str:
    """The id of a certificate: SHA-256 over the canonical JSON of its content."""
    content: JsonObject = {**shared, **own}
    content.pop("id", None)
    return hashlib.sha256(canonical.encode(content)).hexdigest()


def bundle(
    figures: FlatHour, flat: Flat, tz: str, *, status: str | None = None
) -> JsonObject | None:
    """The bundle of a closed flat-hour (None while its hourly rollup is unwritten).

    ``status`` overrides every certificate's status (``active`` while the hour has
    no majority-cosigned proof yet).
    """
    source = figures.hour_source
    if source is None or source.rollup is None:
        return None
    seq, rollup_id, first, last = source.rollup
    end = periods.following(1, figures.hour, tz)
    shared: JsonObject = {
        "building": flat.building,
        "location": {"floor": flat.floor, "flat": flat.flat},
        "device": flat.serial or flat.author.hex()[:16],
        "log": flat.author.hex(),
        "period": [local_time(figures.hour, tz), local_time(end, tz)],
        "entries": {
            "rollup": rollup_id.hex(),
            "seq": seq,
            "first": first,
            "last": last,
        },
    }
    if figures.storage:
        store = figures.storage
        charge = whole_wh(store["charge"], store["charge_ren"])
        out = whole_wh(store["discharge"], store["discharge_ren"])
        loss = whole_wh(store["loss"], store["loss_ren"])
        held = whole_wh(store["held"], store["held_ren"])
        shared["storage"] = {
            "method": STORAGE_METHOD,
            "charge_wh": charge[0],
            "charge_ren_wh": charge[1],
            "discharge_wh": out[0],
            "discharge_ren_wh": out[1],
            "loss_wh": loss[0],
            "loss_ren_wh": loss[1],
            "held_wh": held[0],
            "held_ren_wh": held[1],
        }
    certs: list[JsonValue] = []
    for part in sorted(figures.parts, key=_ORDER.__getitem__):
        wh, ren_wh = whole_wh(*figures.parts[part])
        if not wh:
            continue
        own: JsonObject = {
            "source": part[0],
            "use": part[1],
            "wh": wh,
            "ren_wh": ren_wh,
            "status": status or STATUS[part[1]],
        }
        own["id"] = certificate_id(shared, own)
        certs.append(own)
    if not certs:
        return None
    return {"type": "bundle", **shared, "certificates": certs}


def bundles(
    figures: Mapping[tuple[bytes, int], FlatHour],
    flats: Mapping[bytes, Flat],
    tz: str,
    *,
    start: int,
    end: int,
    authors: Iterable[bytes] | None = None,
) -> list[tuple[bytes, int, JsonObject]]:
    """``(author, hour, bundle)`` of every closed flat-hour in [start, end)."""
    chosen = set(flats if authors is None else authors)
    result: list[tuple[bytes, int, JsonObject]] = []
    for (author, hour), item in sorted(figures.items()):
        if author not in chosen or not start <= hour < end:
            continue
        made = bundle(item, flats[author], tz)
        if made is not None:
            result.append((author, hour, made))
    return result
