"""The simulated plant: physical ranges, a pump and a valve that change, faults, seeds."""

from __future__ import annotations

from streamforge.simulators._plant import RANGES, Line, Plant, bench_value

DT = 0.1
HOUR = int(3600 / DT)


def _trace(plant: Plant, steps: int) -> list[list[Line]]:
    """Snapshots of every line after each step (copies, so later steps do not change them)."""
    from copy import copy

    out = []
    for _ in range(steps):
        plant.step(DT)
        out.append([copy(line) for line in plant.lines])
    return out


def test_readings_stay_within_physical_ranges_for_an_hour() -> None:
    plant = Plant(lines=3, seed=7)
    for _ in range(HOUR):
        plant.step(DT)
        for line in plant.lines:
            for name, (_, low, high) in RANGES.items():
                value = getattr(line, name)
                assert low <= value <= high, f"{line.name} {name}={value}"


def test_temperature_and_pressure_drift_around_the_setpoint() -> None:
    plant = Plant(lines=1, seed=3)
    line = plant.lines[0]
    temperatures, pressures = [], []
    for _ in range(3000):
        plant.step(DT)
        temperatures.append(line.boiler_temperature)
        pressures.append(line.boiler_pressure)
    assert len(set(temperatures)) > 2900  # noise: a new value (almost) every step
    assert abs(sum(temperatures) / len(temperatures) - line.setpoint) < 10.0
    assert 2.0 < sum(pressures) / len(pressures) < 5.0


def test_the_pump_starts_and_stops_and_counts_run_time_only_while_running() -> None:
    plant = Plant(lines=1, seed=11)
    line = plant.lines[0]
    starts0 = line.pump_starts
    states, stopped_seconds_moved = set(), False
    for _ in range(HOUR // 4):
        before = line.pump_run_seconds
        plant.step(DT)
        states.add(line.pump_running)
        if not line.pump_running and line.pump_run_seconds != before:
            stopped_seconds_moved = True
        if not line.pump_running:
            assert line.pump_motor_current < 13.5
    assert states == {True, False}
    assert line.pump_starts > starts0
    assert not stopped_seconds_moved


def test_the_valve_opens_and_closes_and_its_position_follows() -> None:
    plant = Plant(lines=1, seed=5)
    trace = [snap[0] for snap in _trace(plant, HOUR // 6)]
    assert {s.valve_open for s in trace} == {True, False}
    assert any(s.valve_position == 100.0 for s in trace)
    assert any(s.valve_position == 0.0 for s in trace)
    assert any(0.0 < s.valve_position < 100.0 for s in trace)  # it travels, it does not jump


def test_pump_faults_occur_stop_the_pump_and_clear() -> None:
    plant = Plant(lines=3, seed=1)
    trace = _trace(plant, HOUR)
    faults = 0
    for i in range(3):
        series = [snap[i] for snap in trace]
        faults += sum(1 for a, b in zip(series, series[1:]) if b.pump_fault and not a.pump_fault)
        assert all(not s.pump_running for s in series if s.pump_fault)
        assert not all(s.pump_fault for s in series[-200:])  # a fault does not stick
    assert faults >= 3


def test_commands_take_effect_and_a_faulted_pump_refuses_to_start() -> None:
    line = Plant(lines=1, seed=2).lines[0]
    line.command_valve(not line.valve_open)
    wanted = line.valve_open
    for _ in range(50):
        line.step(DT)
    assert line.valve_open == wanted
    line.command_pump(False)
    line.step(DT)
    assert not line.pump_running
    line.pump_fault = True
    line.command_pump(True)
    assert not line.pump_running


def test_the_same_seed_replays_the_same_plant_and_another_seed_does_not() -> None:
    def run(seed: int) -> list[tuple[float, bool, bool, float]]:
        plant = Plant(lines=2, seed=seed)
        return [
            (ln.boiler_temperature, ln.pump_running, ln.valve_open, ln.pump_run_seconds)
            for snap in _trace(plant, 2000)
            for ln in snap
        ]

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_bench_values_change_on_every_tick_and_differ_between_tags() -> None:
    for index in (0, 1, 999):
        values = [bench_value(index, tick) for tick in range(500)]
        assert all(a != b for a, b in zip(values, values[1:]))
    assert len({bench_value(i, 10) for i in range(1000)}) > 900
