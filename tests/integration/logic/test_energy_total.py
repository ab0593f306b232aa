"""The energy total never books phantom energy and never jumps."""

from __future__ import annotations

import pytest

from custom_components.local_vpp.energy_total import EnergyTotal, EnergyTotalState


def _feed(total: EnergyTotal, reads: list[tuple[float, float]]) -> list[float | None]:
    return [total.update(counter, at) for counter, at in reads]


def test_first_read_is_taken_as_is() -> None:
    total = EnergyTotal()
    assert total.total_wh is None
    assert total.update(1234.0, 0.0) == 1234.0


def test_normal_growth_follows_the_counter() -> None:
    total = EnergyTotal()
    shown = _feed(total, [(1000.0, 0.0), (1001.0, 1.0), (1003.0, 2.0)])
    assert shown == [1000.0, 1001.0, 1003.0]


def test_small_dip_is_ignored() -> None:
    total = EnergyTotal()
    shown = _feed(total, [(10_000.0, 0.0), (9_950.0, 1.0), (10_001.0, 2.0)])
    # 0.5 % dip held at the last value, then growth continues.
    assert shown == [10_000.0, 10_000.0, 10_001.0]


@pytest.mark.parametrize("glitch", [0.0, 5_000.0])
def test_one_read_glitch_books_no_energy(glitch: float) -> None:
    total = EnergyTotal()
    shown = _feed(total, [(10_000.0, 0.0), (glitch, 1.0), (10_002.0, 2.0)])
    assert shown == [10_000.0, 10_000.0, 10_002.0]


def test_spike_up_then_back_books_no_energy() -> None:
    total = EnergyTotal()
    shown = _feed(total, [(10_000.0, 0.0), (900_000.0, 1.0), (10_001.0, 2.0)])
    assert shown == [10_000.0, 10_000.0, 10_001.0]


def test_confirmed_counter_reset_continues_without_jump() -> None:
    total = EnergyTotal(confirmations=3)
    shown = _feed(
        total,
        [(10_000.0, 0.0), (5.0, 1.0), (6.0, 2.0), (7.0, 3.0), (9.0, 4.0)],
    )
    # Held during confirmation, then continues from 10 000 by the new counter's growth.
    assert shown == [10_000.0, 10_000.0, 10_000.0, 10_002.0, 10_004.0]


def test_restart_restores_and_does_not_jump() -> None:
    before = EnergyTotal()
    _feed(before, [(10_000.0, 0.0), (10_010.0, 10.0)])
    assert before.state is not None
    stored = before.state.as_dict()

    after = EnergyTotal()
    restored = EnergyTotalState.from_dict(stored)
    assert restored is not None
    after.restore(restored)
    assert after.total_wh == 10_010.0
    # The device kept counting while Home Assistant was down (60 s, plausible).
    assert after.update(10_030.0, 70.0) == 10_030.0


def test_restart_after_reset_offset_survives() -> None:
    total = EnergyTotal(confirmations=2)
    _feed(total, [(10_000.0, 0.0), (0.0, 1.0), (1.0, 2.0)])
    assert total.total_wh == 10_001.0
    assert total.state is not None
    again = EnergyTotal()
    restored = EnergyTotalState.from_dict(total.state.as_dict())
    assert restored is not None
    again.restore(restored)
    assert again.update(3.0, 3.0) == 10_003.0


def test_long_gap_rise_is_accepted_once_confirmed() -> None:
    total = EnergyTotal(confirmations=2)
    # 10 kWh in one second is implausible, but a second read agrees: accept it.
    shown = _feed(total, [(0.0, 0.0), (10_000.0, 1.0), (10_001.0, 2.0)])
    assert shown == [0.0, 0.0, 10_001.0]


def test_from_dict_rejects_foreign_data() -> None:
    assert EnergyTotalState.from_dict({"native_value": 3}) is None
    assert (
        EnergyTotalState.from_dict({"total_wh": "x", "offset_wh": 0, "at": 0}) is None
    )
