"""Windows decided against (skipped, cancelled) written to the run history too.

A window that runs is in the history as its flow run (under the window's run
key). One that is skipped or cancelled by a policy never starts a flow run,
so the server records a stand-in run for it: state Cancelled, named
``Skipped`` or ``Cancelled``, the reason as its error, the window's run key
and a ``schedule:NAME`` tag. At most :data:`MAX_PER_DECISION` per decision
(a long downtime of a one-second schedule would otherwise flood the
history); all of them are in ``schedules.db`` regardless.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Any

from legato.scheduling.window import window_run_key

MAX_PER_DECISION = 100
_REASONS = {"late": "the window was missed (catch-up policy)", "overlap": "the previous window was still running (overlap policy)"}


class HistoryLink:
    """Opens a history recorder on first use; does nothing when the history is off."""

    def __init__(self) -> None:
        self._recorder: Any = None

    def record(self, deployment: str, flow_name: str, decisions: list[tuple[float, str, str | None]]) -> None:
        from legato.config import history_enabled

        skipped = [d for d in decisions if d[1] in ("SKIPPED", "CANCELLED")][-MAX_PER_DECISION:]
        if not skipped or not history_enabled():
            return
        if self._recorder is None:
            from legato.history import HistoryRecorder

            self._recorder = HistoryRecorder()
        now = time.time()
        for start, state, reason in skipped:
            run_id = uuid.uuid4().hex
            key = window_run_key(deployment, datetime.fromtimestamp(start, timezone.utc))
            self._recorder.flow_run_started(
                id=run_id, name=f"{deployment}-{state.lower()}", flow_name=flow_name, parameters={}, run_key=key,
                runner="schedule", tags=[f"schedule:{deployment}"], started_at=now, entrypoint="",
            )  # fmt: skip
            self._recorder.flow_run_finished(
                id=run_id, state_type="CANCELLED", state_name=state.capitalize(), ended_at=now,
                error=f"{state.capitalize()} ({reason}): {_REASONS.get(reason or '', reason)}",
            )  # fmt: skip

    def close(self) -> None:
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None


__all__ = ["HistoryLink"]
