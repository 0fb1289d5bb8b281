"""The simulated plant behind both simulators: lines of a boiler, a pump and a valve.

Deterministic for a seed: all randomness comes from one `random.Random`, and time only moves
when `step(dt)` is called, so a seed and a step size replay the same plant.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["Line", "Plant", "bench_value", "RANGES"]

#: physical limits every reading stays within (unit, low, high)
RANGES: dict[str, tuple[str, float, float]] = {
    "boiler_temperature": ("degC", 15.0, 120.0),
    "boiler_pressure": ("bar", 0.0, 10.0),
    "pump_discharge_pressure": ("bar", 0.0, 8.0),
    "pump_motor_current": ("A", 0.0, 20.0),
    "pump_speed": ("rpm", 0.0, 1500.0),
    "valve_position": ("%", 0.0, 100.0),
}

_PUMP_RUN_S = (60.0, 180.0)  # how long the pump runs before the duty cycle stops it
_PUMP_REST_S = (15.0, 45.0)
_VALVE_HOLD_S = (20.0, 60.0)  # how long the valve stays open or closed
_VALVE_TRAVEL = 25.0  # % per second
_FAULT_RATE = 1.0 / 300.0  # pump trips per running second, on average
_FAULT_CLEAR_S = (5.0, 20.0)
_RATED_SPEED = 1450.0


def _clamp(value: float, name: str) -> float:
    _, low, high = RANGES[name]
    return min(max(value, low), high)


@dataclass
class Line:
    """One process line: a boiler heated to a setpoint, the pump feeding it, an outlet valve."""

    index: int
    rng: random.Random
    boiler_temperature: float = 20.0
    boiler_pressure: float = 1.0
    pump_running: bool = True
    pump_fault: bool = False
    pump_speed: float = 0.0
    pump_motor_current: float = 0.0
    pump_discharge_pressure: float = 0.0
    pump_run_seconds: float = 0.0
    pump_starts: int = 0
    valve_open: bool = False
    valve_position: float = 0.0
    setpoint: float = 85.0
    _pump_timer: float = 0.0
    _valve_timer: float = 0.0
    _fault_timer: float = 0.0

    @classmethod
    def create(cls, index: int, rng: random.Random) -> Line:
        """A line already warmed up, with its own setpoint and a used pump."""
        setpoint = 80.0 + 10.0 * rng.random()
        line = cls(index=index, rng=rng, setpoint=setpoint)
        line.boiler_temperature = setpoint + rng.gauss(0.0, 1.0)
        line.boiler_pressure = line._pressure_target()
        line.pump_run_seconds = float(rng.randint(2_000, 40_000) * 3600)
        line.pump_starts = rng.randint(100, 5_000)
        line.valve_open = rng.random() < 0.5
        line.valve_position = 100.0 if line.valve_open else 0.0
        line.pump_speed = _RATED_SPEED
        line._pump_timer = rng.uniform(*_PUMP_RUN_S)
        line._valve_timer = rng.uniform(*_VALVE_HOLD_S)
        line._settle_pump()
        return line

    @property
    def name(self) -> str:
        """The line's name, as in asset ids (`line1`)."""
        return f"line{self.index}"

    def command_pump(self, running: bool) -> None:
        """An operator starts or stops the pump (a start is refused while the pump is faulted)."""
        if running == self.pump_running or (running and self.pump_fault):
            return
        self._set_pump(running)

    def command_valve(self, open_: bool) -> None:
        """An operator opens or closes the valve; it then holds for a full cycle."""
        self.valve_open = open_
        self._valve_timer = self.rng.uniform(*_VALVE_HOLD_S)

    def step(self, dt: float) -> None:
        """Advance the line by `dt` seconds."""
        self._step_schedule(dt)
        self._step_valve(dt)
        self._step_pump(dt)
        self._step_boiler(dt)

    def _set_pump(self, running: bool) -> None:
        self.pump_running = running
        if running:
            self.pump_starts += 1
        span = _PUMP_RUN_S if running else _PUMP_REST_S
        self._pump_timer = self.rng.uniform(*span)

    def _step_schedule(self, dt: float) -> None:
        if self.pump_fault:
            self._fault_timer -= dt
            if self._fault_timer <= 0.0:
                self.pump_fault = False
                self._set_pump(True)
        elif self.pump_running and self.rng.random() < _FAULT_RATE * dt:
            self.pump_fault = True
            self._fault_timer = self.rng.uniform(*_FAULT_CLEAR_S)
            self._set_pump(False)
        else:
            self._pump_timer -= dt
            if self._pump_timer <= 0.0:
                self._set_pump(not self.pump_running)
        self._valve_timer -= dt
        if self._valve_timer <= 0.0:
            self.command_valve(not self.valve_open)

    def _step_valve(self, dt: float) -> None:
        target = 100.0 if self.valve_open else 0.0
        move = _VALVE_TRAVEL * dt
        delta = max(-move, min(move, target - self.valve_position))
        self.valve_position = _clamp(self.valve_position + delta, "valve_position")

    def _step_pump(self, dt: float) -> None:
        if self.pump_running:
            self.pump_run_seconds += dt
            target_speed = _RATED_SPEED + self.rng.gauss(0.0, 3.0)
        else:
            target_speed = 0.0
        # the motor spins up or coasts down over about two seconds
        self.pump_speed += (target_speed - self.pump_speed) * min(1.0, dt / 2.0)
        self._settle_pump()

    def _settle_pump(self) -> None:
        load = self.pump_speed / _RATED_SPEED
        opening = self.valve_position / 100.0
        current = load * (11.0 + 2.0 * opening) + self.rng.gauss(0.0, 0.15) * load
        self.pump_motor_current = _clamp(current, "pump_motor_current")
        pressure = 0.4 + load * (4.8 - 0.9 * opening) + self.rng.gauss(0.0, 0.03)
        self.pump_discharge_pressure = _clamp(pressure, "pump_discharge_pressure")
        self.pump_speed = _clamp(self.pump_speed, "pump_speed")

    def _pressure_target(self) -> float:
        return 1.0 + (self.boiler_temperature - 20.0) * 0.04

    def _step_boiler(self, dt: float) -> None:
        # without feed water the boiler runs hotter; an open outlet cools it a little
        target = (
            self.setpoint
            + (0.0 if self.pump_running else 8.0)
            - 3.0 * (self.valve_position / 100.0)
        )
        noise = self.rng.gauss(0.0, 0.4) * math.sqrt(dt)
        temperature = self.boiler_temperature + 0.05 * (target - self.boiler_temperature) * dt
        self.boiler_temperature = _clamp(temperature + noise, "boiler_temperature")
        pressure = (
            self.boiler_pressure + 0.5 * (self._pressure_target() - self.boiler_pressure) * dt
        )
        pressure += self.rng.gauss(0.0, 0.01) * math.sqrt(dt)
        self.boiler_pressure = _clamp(pressure, "boiler_pressure")


class Plant:
    """`lines` process lines sharing one seeded random source."""

    def __init__(self, lines: int = 1, seed: int | None = None) -> None:
        self.rng = random.Random(seed)
        self.lines = [Line.create(i + 1, self.rng) for i in range(lines)]
        self.elapsed = 0.0

    def step(self, dt: float) -> None:
        """Advance every line by `dt` seconds."""
        self.elapsed += dt
        for line in self.lines:
            line.step(dt)


def bench_value(index: int, tick: int) -> float:
    """Value of generated tag `index` at update `tick`: a slow sine, different on every tick."""
    return round(50.0 + 40.0 * math.sin(0.05 * tick + 0.7 * index) + 0.001 * tick, 6)
