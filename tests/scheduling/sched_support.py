"""Helpers shared by the scheduling tests."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

T0 = datetime(2026, 12, 1, 0, 0, 0, 500_000, tzinfo=timezone.utc)


class Recorder:
    """A window runner that records each call; ``gate`` (if set) holds every run until opened."""

    def __init__(self, result: str = "COMPLETED") -> None:
        self.calls: list[tuple[str, str]] = []
        self.result = result
        self.gate: threading.Event | None = None
        self.lock = threading.Lock()
        self.started = threading.Semaphore(0)

    def __call__(self, deployment, window):
        with self.lock:
            self.calls.append((deployment.name, window.run_key))
        self.started.release()
        if self.gate is not None:
            assert self.gate.wait(10), "gate never opened"
        return self.result, None

    @property
    def keys(self) -> list[str]:
        with self.lock:
            return [key for _, key in self.calls]
