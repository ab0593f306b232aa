"""SunSpec register layouts and how values become 16-bit registers.

Only what a flat's devices serve is here: models 1, 701, 713, 802, 704 and the Local VPP
vendor models 64900 (living-room circuit) and 64901 (building bus); for a flat with
older devices, the integer models 103 (inverter), 123 (immediate controls), 124
(storage) and 203 (meter), or one of the float meters 211–214 (one layout of
``float32`` points without scale factors, whose "not implemented" value is the NaN
0x7FC00000).
Each layout lists every point of the model, so a point the simulator does not drive
still reads as the SunSpec "not implemented" sentinel of its type instead of a
misleading 0.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

SUNSPEC_BASE: Final = 40000
SUNS_MARKER: Final = (0x5375, 0x6E53)
END_MARKER: Final = (0xFFFF, 0x0000)

MODEL_COMMON: Final = 1
MODEL_DER_MEASUREMENT: Final = 701
MODEL_DER_CONTROLS: Final = 704
MODEL_STORAGE_CAPACITY: Final = 713
MODEL_BATTERY: Final = 802
MODEL_LIVING_ROOM: Final = 64900
MODEL_BUILDING_BUS: Final = 64901
# The older integer models installed inverters and meters serve (a "1xx" flat).
MODEL_INVERTER_1XX: Final = 103
MODEL_CONTROLS_1XX: Final = 123
MODEL_STORAGE_1XX: Final = 124
MODEL_METER_1XX: Final = 203
# Float meters: single-phase, split-phase, wye, delta; all four share one layout.
FLOAT_METERS_1XX: Final = (211, 212, 213, 214)

# Register count and "not implemented" value of every fixed-size SunSpec type
# (signed types as numbers: -0x8000 is the register 0x8000; float32 as NaN).
_FIXED_TYPES: Final[dict[str, tuple[int, int | float]]] = {
    "uint16": (1, 0xFFFF),
    "int16": (1, -0x8000),
    "enum16": (1, 0xFFFF),
    "sunssf": (1, -0x8000),
    "pad": (1, 0x8000),
    "uint32": (2, 0xFFFFFFFF),
    "int32": (2, -0x80000000),
    "bitfield32": (2, 0xFFFFFFFF),
    "bitfield16": (1, 0xFFFF),
    "acc32": (2, 0),
    "uint64": (4, 0xFFFFFFFFFFFFFFFF),
    "float32": (2, math.nan),
}
# The quiet NaN SunSpec names as float32's "not implemented" value.
_FLOAT32_NAN: Final = (0x7FC0, 0x0000)
_SIGNED: Final = frozenset({"int16", "int32", "sunssf"})

_FLOAT_METER_POINTS: Final = (
    ", ".join(
        f"{name} float32"
        for group in (
            "A AphA AphB AphC PhV PhVphA PhVphB PhVphC PPV PPVphAB PPVphBC PPVphCA Hz",
            "W WphA WphB WphC VA VAphA VAphB VAphC VAR VARphA VARphB VARphC",
            "PF PFphA PFphB PFphC",
            "TotWhExp TotWhExpPhA TotWhExpPhB TotWhExpPhC",
            "TotWhImp TotWhImpPhA TotWhImpPhB TotWhImpPhC",
            "TotVAhExp TotVAhExpPhA TotVAhExpPhB TotVAhExpPhC",
            "TotVAhImp TotVAhImpPhA TotVAhImpPhB TotVAhImpPhC",
            "TotVArhImpQ1 TotVArhImpQ1PhA TotVArhImpQ1PhB TotVArhImpQ1PhC",
            "TotVArhImpQ2 TotVArhImpQ2PhA TotVArhImpQ2PhB TotVArhImpQ2PhC",
            "TotVArhExpQ3 TotVArhExpQ3PhA TotVArhExpQ3PhB TotVArhExpQ3PhC",
            "TotVArhExpQ4 TotVArhExpQ4PhA TotVArhExpQ4PhB TotVArhExpQ4PhC",
        )
        for name in group.split()
    )
    + ", Evt bitfield32"
)

# Every point after the id and length registers, in register order: "name type".
# Strings are "string<registers>". Copied from the SunSpec model definitions.
_POINTS: Final[dict[int, str]] = {
    MODEL_COMMON: "Mn string16, Md string16, Opt string8, Vr string8, SN string16,"
    " DA uint16, Pad pad",
    MODEL_DER_MEASUREMENT: "ACType enum16, St enum16, InvSt enum16, ConnSt enum16,"
    " Alrm bitfield32, DERMode bitfield32, W int16, VA int16, Var int16, PF int16,"
    " A int16, LLV uint16, LNV uint16, Hz uint32, TotWhInj uint64, TotWhAbs uint64,"
    " TotVarhInj uint64, TotVarhAbs uint64, TmpAmb int16, TmpCab int16, TmpSnk int16,"
    " TmpTrns int16, TmpSw int16, TmpOt int16,"
    " WL1 int16, VAL1 int16, VarL1 int16, PFL1 int16, AL1 int16, VL1L2 uint16,"
    " VL1 uint16, TotWhInjL1 uint64, TotWhAbsL1 uint64, TotVarhInjL1 uint64,"
    " TotVarhAbsL1 uint64,"
    " WL2 int16, VAL2 int16, VarL2 int16, PFL2 int16, AL2 int16, VL2L3 uint16,"
    " VL2 uint16, TotWhInjL2 uint64, TotWhAbsL2 uint64, TotVarhInjL2 uint64,"
    " TotVarhAbsL2 uint64,"
    " WL3 int16, VAL3 int16, VarL3 int16, PFL3 int16, AL3 int16, VL3L1 uint16,"
    " VL3 uint16, TotWhInjL3 uint64, TotWhAbsL3 uint64, TotVarhInjL3 uint64,"
    " TotVarhAbsL3 uint64,"
    " ThrotPct uint16, ThrotSrc bitfield32, A_SF sunssf, V_SF sunssf, Hz_SF sunssf,"
    " W_SF sunssf, PF_SF sunssf, VA_SF sunssf, Var_SF sunssf, TotWh_SF sunssf,"
    " TotVarh_SF sunssf, Tmp_SF sunssf, MnAlrmInfo string32",
    MODEL_STORAGE_CAPACITY: "WHRtg uint16, WHAvail uint16, SoC uint16, SoH uint16,"
    " Sta enum16, WH_SF sunssf, Pct_SF sunssf",
    MODEL_BATTERY: "AHRtg uint16, WHRtg uint16, WChaRteMax uint16,"
    " WDisChaRteMax uint16, DisChaRte uint16, SoCMax uint16, SoCMin uint16,"
    " SocRsvMax uint16, SoCRsvMin uint16, SoC uint16, DoD uint16, SoH uint16,"
    " NCyc uint32, ChaSt enum16, LocRemCtl enum16, Hb uint16, CtrlHb uint16,"
    " AlmRst uint16, Typ enum16, State enum16, StateVnd enum16, WarrDt uint32,"
    " Evt1 bitfield32, Evt2 bitfield32, EvtVnd1 bitfield32, EvtVnd2 bitfield32,"
    " V uint16, VMax uint16, VMin uint16, CellVMax uint16, CellVMaxStr uint16,"
    " CellVMaxMod uint16, CellVMin uint16, CellVMinStr uint16, CellVMinMod uint16,"
    " CellVAvg uint16, A int16, AChaMax uint16, ADisChaMax uint16, W int16,"
    " ReqInvState enum16, ReqW int16, SetOp enum16, SetInvState enum16,"
    " AHRtg_SF sunssf, WHRtg_SF sunssf, WChaDisChaMax_SF sunssf, DisChaRte_SF sunssf,"
    " SoC_SF sunssf, DoD_SF sunssf, SoH_SF sunssf, V_SF sunssf, CellV_SF sunssf,"
    " A_SF sunssf, AMax_SF sunssf, W_SF sunssf",
    MODEL_DER_CONTROLS: "PFWInjEna enum16, PFWInjEnaRvrt enum16,"
    " PFWInjRvrtTms uint32, PFWInjRvrtRem uint32, PFWAbsEna enum16,"
    " PFWAbsEnaRvrt enum16, PFWAbsRvrtTms uint32, PFWAbsRvrtRem uint32,"
    " WMaxLimPctEna enum16, WMaxLimPct uint16, WMaxLimPctRvrt uint16,"
    " WMaxLimPctEnaRvrt enum16, WMaxLimPctRvrtTms uint32, WMaxLimPctRvrtRem uint32,"
    " WSetEna enum16, WSetMod enum16, WSet int32, WSetRvrt int32, WSetPct int16,"
    " WSetPctRvrt int16, WSetEnaRvrt enum16, WSetRvrtTms uint32, WSetRvrtRem uint32,"
    " VarSetEna enum16, VarSetMod enum16, VarSetPri enum16, VarSet int32,"
    " VarSetRvrt int32, VarSetPct int16, VarSetPctRvrt int16, VarSetEnaRvrt enum16,"
    " VarSetRvrtTms uint32, VarSetRvrtRem uint32, WRmp uint16, WRmpRef enum16,"
    " VarRmp uint16, AntiIslEna enum16, PF_SF sunssf, WMaxLimPct_SF sunssf,"
    " WSet_SF sunssf, WSetPct_SF sunssf, VarSet_SF sunssf, VarSetPct_SF sunssf,"
    " PFWInj.PF uint16, PFWInj.Ext enum16, PFWInjRvrt.PF uint16,"
    " PFWInjRvrt.Ext enum16, PFWAbs.PF uint16, PFWAbs.Ext enum16,"
    " PFWAbsRvrt.PF uint16, PFWAbsRvrt.Ext enum16",
    MODEL_LIVING_ROOM: "Src enum16, W uint16, TotWh uint64, Pwr enum16, W_SF sunssf",
    MODEL_INVERTER_1XX: "A uint16, AphA uint16, AphB uint16, AphC uint16, A_SF sunssf,"
    " PPVphAB uint16, PPVphBC uint16, PPVphCA uint16, PhVphA uint16, PhVphB uint16,"
    " PhVphC uint16, V_SF sunssf, W int16, W_SF sunssf, Hz uint16, Hz_SF sunssf,"
    " VA int16, VA_SF sunssf, VAr int16, VAr_SF sunssf, PF int16, PF_SF sunssf,"
    " WH acc32, WH_SF sunssf, DCA uint16, DCA_SF sunssf, DCV uint16, DCV_SF sunssf,"
    " DCW int16, DCW_SF sunssf, TmpCab int16, TmpSnk int16, TmpTrns int16,"
    " TmpOt int16, Tmp_SF sunssf, St enum16, StVnd enum16, Evt1 bitfield32,"
    " Evt2 bitfield32, EvtVnd1 bitfield32, EvtVnd2 bitfield32, EvtVnd3 bitfield32,"
    " EvtVnd4 bitfield32",
    MODEL_CONTROLS_1XX: "Conn_WinTms uint16, Conn_RvrtTms uint16, Conn enum16,"
    " WMaxLimPct uint16, WMaxLimPct_WinTms uint16, WMaxLimPct_RvrtTms uint16,"
    " WMaxLimPct_RmpTms uint16, WMaxLim_Ena enum16, OutPFSet int16,"
    " OutPFSet_WinTms uint16, OutPFSet_RvrtTms uint16, OutPFSet_RmpTms uint16,"
    " OutPFSet_Ena enum16, VArWMaxPct int16, VArMaxPct int16, VArAvalPct int16,"
    " VArPct_WinTms uint16, VArPct_RvrtTms uint16, VArPct_RmpTms uint16,"
    " VArPct_Mod enum16, VArPct_Ena enum16, WMaxLimPct_SF sunssf,"
    " OutPFSet_SF sunssf, VArPct_SF sunssf",
    MODEL_STORAGE_1XX: "WChaMax uint16, WChaGra uint16, WDisChaGra uint16,"
    " StorCtl_Mod bitfield16, VAChaMax uint16, MinRsvPct uint16, ChaState uint16,"
    " StorAval uint16, InBatV uint16, ChaSt enum16, OutWRte int16, InWRte int16,"
    " InOutWRte_WinTms uint16, InOutWRte_RvrtTms uint16, InOutWRte_RmpTms uint16,"
    " ChaGriSet enum16, WChaMax_SF sunssf, WChaDisChaGra_SF sunssf,"
    " VAChaMax_SF sunssf, MinRsvPct_SF sunssf, ChaState_SF sunssf,"
    " StorAval_SF sunssf, InBatV_SF sunssf, InOutWRte_SF sunssf",
    MODEL_METER_1XX: "A int16, AphA int16, AphB int16, AphC int16, A_SF sunssf,"
    " PhV int16, PhVphA int16, PhVphB int16, PhVphC int16, PPV int16,"
    " PPVphAB int16, PPVphBC int16, PPVphCA int16, V_SF sunssf, Hz int16,"
    " Hz_SF sunssf, W int16, WphA int16, WphB int16, WphC int16, W_SF sunssf,"
    " VA int16, VAphA int16, VAphB int16, VAphC int16, VA_SF sunssf, VAR int16,"
    " VARphA int16, VARphB int16, VARphC int16, VAR_SF sunssf, PF int16,"
    " PFphA int16, PFphB int16, PFphC int16, PF_SF sunssf, TotWhExp acc32,"
    " TotWhExpPhA acc32, TotWhExpPhB acc32, TotWhExpPhC acc32, TotWhImp acc32,"
    " TotWhImpPhA acc32, TotWhImpPhB acc32, TotWhImpPhC acc32, TotWh_SF sunssf,"
    " TotVAhExp acc32, TotVAhExpPhA acc32, TotVAhExpPhB acc32, TotVAhExpPhC acc32,"
    " TotVAhImp acc32, TotVAhImpPhA acc32, TotVAhImpPhB acc32, TotVAhImpPhC acc32,"
    " TotVAh_SF sunssf, TotVArhImpQ1 acc32, TotVArhImpQ1PhA acc32,"
    " TotVArhImpQ1PhB acc32, TotVArhImpQ1PhC acc32, TotVArhImpQ2 acc32,"
    " TotVArhImpQ2PhA acc32, TotVArhImpQ2PhB acc32, TotVArhImpQ2PhC acc32,"
    " TotVArhExpQ3 acc32, TotVArhExpQ3PhA acc32, TotVArhExpQ3PhB acc32,"
    " TotVArhExpQ3PhC acc32, TotVArhExpQ4 acc32, TotVArhExpQ4PhA acc32,"
    " TotVArhExpQ4PhB acc32, TotVArhExpQ4PhC acc32, TotVArh_SF sunssf,"
    " Evt bitfield32",
    **dict.fromkeys(FLOAT_METERS_1XX, _FLOAT_METER_POINTS),
    MODEL_BUILDING_BUS: "Avail enum16, St enum16, WSet int16, W int16,"
    " TotWhExp uint64, TotWhImp uint64, WSetRvrtTms uint32, WSetRvrtRem uint32,"
    " W_SF sunssf, TotWh_SF sunssf",
}

# Data registers after the 2-register header, as each model declares in its L register.
MODEL_LENGTHS: Final[dict[int, int]] = {
    MODEL_COMMON: 66,
    MODEL_DER_MEASUREMENT: 153,
    MODEL_DER_CONTROLS: 65,
    MODEL_STORAGE_CAPACITY: 7,
    MODEL_BATTERY: 62,
    MODEL_LIVING_ROOM: 8,
    MODEL_BUILDING_BUS: 18,
    MODEL_INVERTER_1XX: 50,
    MODEL_CONTROLS_1XX: 24,
    MODEL_STORAGE_1XX: 24,
    MODEL_METER_1XX: 105,
    **dict.fromkeys(FLOAT_METERS_1XX, 124),
}

type PointValue = int | float | str


@dataclass(frozen=True, slots=True)
class Point:
    """One named value of a model; ``offset`` counts from the model's id register."""

    name: str
    offset: int
    type: str
    size: int

    @property
    def sentinel(self) -> PointValue:
        """The value that says "not implemented"."""
        return "" if self.type == "string" else _FIXED_TYPES[self.type][1]


@dataclass(frozen=True, slots=True)
class ModelLayout:
    """Where each point of one SunSpec model sits."""

    model_id: int
    length: int
    points: Mapping[str, Point]

    def point(self, name: str) -> Point:
        """The point called ``name``; ``KeyError`` if the model has none."""
        return self.points[name]


def _parse_layout(model_id: int, spec: str) -> ModelLayout:
    points: dict[str, Point] = {}
    offset = 2
    for item in spec.split(","):
        name, type_name = item.split()
        if type_name.startswith("string"):
            point = Point(name, offset, "string", int(type_name.removeprefix("string")))
        else:
            point = Point(name, offset, type_name, _FIXED_TYPES[type_name][0])
        points[name] = point
        offset += point.size
    length = MODEL_LENGTHS[model_id]
    if offset - 2 != length:  # a typo in the table must not ship a shifted map
        raise AssertionError(f"model {model_id}: {offset - 2} registers, not {length}")
    return ModelLayout(model_id, length, points)


LAYOUTS: Final[dict[int, ModelLayout]] = {
    model_id: _parse_layout(model_id, spec) for model_id, spec in _POINTS.items()
}


def encode(point: Point, value: PointValue) -> list[int]:
    """The registers (big-endian words) holding ``value`` for ``point``."""
    if point.type == "string":
        if not isinstance(value, str):
            raise TypeError(f"{point.name} needs a string")
        raw = value.encode("utf-8")[: point.size * 2].ljust(point.size * 2, b"\0")
        return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
    if isinstance(value, str):
        raise TypeError(f"{point.name} needs a number")
    if point.type == "float32":
        if math.isnan(value):
            return list(_FLOAT32_NAN)
        high, low = struct.unpack(">HH", struct.pack(">f", value))
        return [high, low]
    if isinstance(value, float):
        raise TypeError(f"{point.name} needs an integer")
    bits = 16 * point.size
    if point.type in _SIGNED:
        if not -(1 << (bits - 1)) <= value < (1 << (bits - 1)):
            raise ValueError(f"{point.name}={value} does not fit {point.type}")
        value &= (1 << bits) - 1
    elif not 0 <= value < (1 << bits):
        raise ValueError(f"{point.name}={value} does not fit {point.type}")
    return [(value >> (16 * (point.size - 1 - i))) & 0xFFFF for i in range(point.size)]


def decode(point: Point, words: Sequence[int]) -> PointValue:
    """The value ``point`` holds in ``words`` (as many as the point's size)."""
    if point.type == "string":
        raw = b"".join(word.to_bytes(2, "big") for word in words)
        return raw.rstrip(b"\0").decode("utf-8", errors="replace")
    if point.type == "float32":
        value_f: float = struct.unpack(">f", struct.pack(">HH", *words))[0]
        return value_f
    value = 0
    for word in words:
        value = (value << 16) | word
    bits = 16 * point.size
    if point.type in _SIGNED and value >= 1 << (bits - 1):
        value -= 1 << bits
    return value


@dataclass(frozen=True, slots=True)
class PlacedModel:
    """A model at its place in a unit's chain."""

    layout: ModelLayout
    address: int

    @property
    def end(self) -> int:
        """First address after this model."""
        return self.address + 2 + self.layout.length

    def address_of(self, point: str) -> int:
        """Absolute register address of ``point``."""
        return self.address + self.layout.point(point).offset


class ChainLayout:
    """A unit's SunSpec chain: marker, models in order, end marker, from ``base``."""

    def __init__(self, model_ids: Sequence[int], base: int = SUNSPEC_BASE) -> None:
        """Place ``model_ids`` one after the other behind the ``SunS`` marker."""
        self.base = base
        placed: list[PlacedModel] = []
        address = base + 2
        for model_id in model_ids:
            model = PlacedModel(LAYOUTS[model_id], address)
            placed.append(model)
            address = model.end
        self.models: tuple[PlacedModel, ...] = tuple(placed)
        self.end = address + 2

    @property
    def size(self) -> int:
        """Registers from the marker through the end marker."""
        return self.end - self.base

    def model(self, model_id: int) -> PlacedModel:
        """The first model with ``model_id`` in the chain."""
        for model in self.models:
            if model.layout.model_id == model_id:
                return model
        raise KeyError(model_id)

    def point_at(self, address: int) -> tuple[PlacedModel, Point] | None:
        """The model and point whose registers include ``address``, if any."""
        for model in self.models:
            if model.address <= address < model.end:
                for point in model.layout.points.values():
                    start = model.address + point.offset
                    if start <= address < start + point.size:
                        return model, point
                return None  # the id or length register
        return None

    def render(self, values: Mapping[int, Mapping[str, PointValue]]) -> list[int]:
        """The whole chain's registers; ``values[model_id][point]``, rest sentinels."""
        registers = [*SUNS_MARKER]
        for model in self.models:
            layout = model.layout
            given = values.get(layout.model_id, {})
            registers += [layout.model_id, layout.length]
            for point in layout.points.values():
                registers += encode(point, given.get(point.name, point.sentinel))
        registers += END_MARKER
        return registers
