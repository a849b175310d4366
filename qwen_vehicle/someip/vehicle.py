"""How the gateway reaches the vehicle: a small interface fed by the ROS node (vehicle/state + the bridge's
parameter service) or, in the gateway's own unit tests and the benchmark, by `InMemoryVehicle`."""
from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Callable, Protocol

# terminal statuses of an actuation, as in qwen_vehicle.core.ir.ResultStatus
ACTUATION_STATUSES = ('done', 'accepted', 'refused', 'timeout', 'error', 'unavailable')


@dataclass(frozen=True)
class ActuationResult:
    status: str          # one of ACTUATION_STATUSES
    reason: str = ''
    value: Any = None    # the value read back, when known


class VehicleAccess(Protocol):
    def snapshot(self) -> dict[str, Any]:
        """Current valid, fresh signal values by VSS path (invalid or stale ones left out)."""

    def actuate(self, path: str, value: Any) -> 'Future[ActuationResult]':
        """Ask the vehicle to set `path` to `value`; the future resolves when the outcome is known."""


class InMemoryVehicle:
    """An in-process stand-in for the vehicle, for tests of the layers above it (never the real thing).

    `policy(path, value) -> reason | None` refuses a request with a reason; `actuators` lists settable paths.
    """

    def __init__(self, signals: dict[str, Any] | None = None, actuators: set[str] | None = None,
                 policy: Callable[[str, Any], str | None] | None = None):
        self.signals = dict(signals or {})
        self.actuators = set(actuators) if actuators is not None else None
        self.policy = policy
        self.requests: list[tuple[str, Any]] = []
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return dict(self.signals)

    def set(self, path: str, value: Any) -> None:
        with self._lock:
            self.signals[path] = value

    def actuate(self, path: str, value: Any) -> 'Future[ActuationResult]':
        future: Future = Future()
        self.requests.append((path, value))
        if self.actuators is not None and path not in self.actuators:
            future.set_result(ActuationResult('refused', f'{path} is not actuatable'))
            return future
        reason = self.policy(path, value) if self.policy else None
        if reason:
            future.set_result(ActuationResult('refused', reason))
            return future
        self.set(path, value)
        future.set_result(ActuationResult('done', '', value))
        return future
