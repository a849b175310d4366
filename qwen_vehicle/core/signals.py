"""Latest value of every mapped signal, with validity and freshness (stale after k x the cycle time)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from .codec import SignalUpdate
from .mapping import SignalMap


@dataclass(slots=True)
class SignalState:
    path: str
    value: Any
    valid: bool
    reason: str | None
    stamp: float          # frame timestamp
    received: float       # local monotonic time of receipt
    fresh: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {'value': self.value, 'valid': self.valid, 'fresh': self.fresh, 'reason': self.reason,
                'stamp': self.stamp}


class SignalStore:
    """Thread-safe store of the latest value per path. Unknown or stale values are never reported as usable."""

    def __init__(self, signal_map: SignalMap | None = None, *, stale_factor: float | None = None,
                 default_ttl: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, SignalState] = {}
        self._ttl: dict[str, float] = {}
        self._clock = clock
        self.default_ttl = default_ttl
        if signal_map is not None:
            k = signal_map.stale_factor if stale_factor is None else stale_factor
            for path, d in signal_map.signals.items():
                period = d.period_s
                self._ttl[path] = k * period if period else default_ttl

    def set_ttl(self, path: str, ttl: float) -> None:
        self._ttl[path] = ttl

    def ttl(self, path: str) -> float:
        return self._ttl.get(path, self.default_ttl)

    def apply(self, updates: Iterable[SignalUpdate], received: float | None = None) -> None:
        now = self._clock() if received is None else received
        with self._lock:
            states = self._states
            for u in updates:
                st = states.get(u.path)
                if st is None:
                    states[u.path] = SignalState(u.path, u.value, u.valid, u.reason, u.timestamp, now)
                else:
                    st.value, st.valid, st.reason, st.stamp, st.received = u.value, u.valid, u.reason, u.timestamp, now

    def put(self, path: str, value: Any, *, valid: bool = True, stamp: float | None = None) -> None:
        """Set a value from a source other than a CAN frame (e.g. a SOME/IP event)."""
        self.apply([SignalUpdate(path, value, value, time.time() if stamp is None else stamp, valid)])

    def get(self, path: str, now: float | None = None) -> SignalState | None:
        now = self._clock() if now is None else now
        with self._lock:
            st = self._states.get(path)
            if st is None:
                return None
            return SignalState(st.path, st.value, st.valid, st.reason, st.stamp, st.received,
                               now - st.received <= self.ttl(path))

    def value(self, path: str, now: float | None = None) -> Any:
        """The value when it is valid and fresh, else None (fail-closed callers treat None as unknown)."""
        st = self.get(path, now)
        return st.value if st is not None and st.valid and st.fresh else None

    def snapshot(self, now: float | None = None) -> dict[str, SignalState]:
        now = self._clock() if now is None else now
        with self._lock:
            return {p: SignalState(s.path, s.value, s.valid, s.reason, s.stamp, s.received,
                                   now - s.received <= self.ttl(p)) for p, s in self._states.items()}

    def stale(self, paths: Iterable[str], now: float | None = None) -> list[str]:
        """Paths (of those given) that are missing or older than their time-to-live."""
        now = self._clock() if now is None else now
        with self._lock:
            return [p for p in paths if p not in self._states or now - self._states[p].received > self.ttl(p)]
