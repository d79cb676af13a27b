"""What a notification says: a title and a plain-text body built from a finished flow run.

Everything in it comes from the run in memory (names, state, parameters,
run key, duration) and, when history is on, from the history (the failed
task runs and their errors). Building it never raises: a message with a
part missing is better than no message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

#: failed task runs listed by name; the rest are counted
MAX_FAILED_TASKS = 5
MAX_PARAMETERS_CHARS = 300
MAX_LINE_CHARS = 300

logger = logging.getLogger("legato.notifications")


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    kind: str  # "failure", "success" or "info": apprise's notify_type


def flow_message(flow_name: str, run: Any, state: Any, *, recovered: bool = False) -> Message:
    """The message for ``run`` ending in ``state`` (``recovered``: a success after a failure)."""
    if recovered:
        title = f"legato: flow {flow_name!r} recovered (run {run.name!r} Completed)"
        kind = "success"
    else:
        title = f"legato: flow {flow_name!r} run {run.name!r} {state.name}"
        kind = "success" if state.is_completed() else "failure" if not state.is_cancelled() else "info"
    lines = [
        f"Flow: {flow_name}",
        f"Run: {run.name} ({run.id})",
        f"State: {state.name}" + (f": {_cut(_first_line(state.message))}" if state.message and not state.is_completed() else ""),
    ]
    if not state.is_completed():
        lines += _failed_task_lines(run.id)
    lines.append(f"Parameters: {_parameters(run.parameters)}")
    if run.run_key is not None:
        lines.append(f"Run key: {run.run_key}")
    if run.started_at is not None and run.ended_at is not None:
        lines.append(f"Duration: {_duration(run.ended_at - run.started_at)}")
    lines.append(f"Details: legato runs show {run.id}")
    return Message(title, "\n".join(lines), kind)


def _failed_task_lines(run_id: str) -> list[str]:
    try:
        from legato import config

        if not config.history_enabled():
            return []
        from legato.history.failures import failed_tasks

        failures, total = failed_tasks(run_id, MAX_FAILED_TASKS)
    except Exception as exc:  # history unreadable: the message goes out without the list
        logger.debug("could not read the failed task runs of %s: %s", run_id, exc)
        return []
    if not total:
        return []
    lines = [f"Failed tasks ({total}):"]
    for failure in failures:
        error = f": {_cut(failure.error)}" if failure.error else ""
        lines.append(f"  - {failure.name} [{failure.state_name}]{error}")
    if total > len(failures):
        lines.append(f"  ... and {total - len(failures)} more")
    return lines


def _parameters(parameters: Any) -> str:
    from legato.history.summary import safe_repr  # the history's bounded reprs (imported only when sending)

    try:
        text = ", ".join(f"{name}={safe_repr(value)}" for name, value in dict(parameters).items())
    except Exception:
        return "(unavailable)"
    return _cut(text, MAX_PARAMETERS_CHARS) or "(none)"


def _first_line(text: str) -> str:
    from legato.history.failures import first_line

    return first_line(text) or ""


def _cut(text: str | None, limit: int = MAX_LINE_CHARS) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


__all__ = ["Message", "flow_message"]
