"""The serving loop: decide due windows, claim them, run them, until told to stop.

One loop per process, any number of deployments. Each pass, for each
deployment, it records the decisions for the windows that came due (one
transaction, :func:`~legato.scheduling.policies.decide`) and claims what it
may run (another, :func:`~legato.scheduling.policies.claim_next`); each
claimed window runs in a thread of its own. Then it waits, on the injected
clock, for the next scheduled start, a finished window, a lease to renew,
or at most ``poll_seconds`` (to see other processes' work and pauses).

Stopping (SIGINT/SIGTERM, or :meth:`Server.stop`): no new window is
claimed, and the windows running finish; the loop returns when they have.
A second signal exits at once: the windows left running keep this process
as their holder, which is dead by then, so the next server claims them
again and resumes them under their run keys.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from legato.scheduling.clock import Clock, SystemClock
from legato.scheduling.deployments import Deployment
from legato.scheduling.errors import DeploymentNotFound
from legato.scheduling.execute import execute_window
from legato.scheduling.history_link import HistoryLink
from legato.scheduling.holders import current_holder, holder_alive
from legato.scheduling.policies import claim_next, decide
from legato.scheduling.store import Store, WindowRow

logger = logging.getLogger("legato.scheduling")

#: ``run(deployment, window) -> (state, error)``: what running a window means (tests swap it).
WindowRunner = Callable[[Deployment, WindowRow], tuple[str, "str | None"]]


def run_deployment_window(deployment: Deployment, window: WindowRow) -> tuple[str, str | None]:
    return execute_window(deployment.flow, deployment.parameters, deployment.schedule.timezone, window)


class Server:
    def __init__(
        self,
        deployments: Iterable[Deployment],
        *,
        clock: Clock | None = None,
        store: Store | None = None,
        holder: str | None = None,
        run_window: WindowRunner = run_deployment_window,
        lease_seconds: float = 60.0,
        poll_seconds: float = 5.0,
        alive: Callable[[str], bool] = holder_alive,
    ) -> None:
        self.deployments = {d.name: d for d in deployments}
        if not self.deployments:
            raise ValueError("serve() needs at least one deployment")
        self.clock = clock or SystemClock()
        self.store = store or Store()
        self.holder = holder or current_holder()
        self.run_window = run_window
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.alive = alive
        self._wake = threading.Event()
        self._stopping = False
        self._running: dict[tuple[str, float], threading.Thread] = {}
        self._lock = threading.Lock()
        self._renewed = self.clock.now()
        self._registered = False
        self._history = HistoryLink()

    # -- the loop ------------------------------------------------------------------

    def register(self) -> None:
        """Create or update each deployment's row (its cursor and a pause survive)."""
        now = self.clock.now().timestamp()
        for deployment in self.deployments.values():
            self.store.upsert_deployment(deployment.row(), now, pause=deployment.paused)
        self._registered = True

    def tick(self) -> list[WindowRow]:
        """One pass: decide, claim and start what is due; return the windows started."""
        if not self._registered:
            self.register()
        started = []
        now = self.clock.now()
        for deployment in self.deployments.values():
            try:
                row = self.store.deployment(deployment.name)
            except DeploymentNotFound:  # removed (`legato schedules rm`) while served: register it again
                row = self.store.upsert_deployment(deployment.row(), now.timestamp(), pause=deployment.paused)
            decisions = self.store.write(lambda conn, row=row: decide(conn, row, now, self.alive))
            self._report(row, decisions)
            while not self._stopping:
                claimed = self.store.write(
                    lambda conn, row=row: claim_next(conn, row, now.timestamp(), self.holder, self.lease_seconds)
                )
                if claimed is None:
                    break
                self._launch(deployment, claimed)
                started.append(claimed)
        self._renew_if_due(now)
        return started

    def serve_forever(self) -> None:
        """Run until :meth:`stop`; then let running windows finish."""
        self.register()
        try:
            while not self._stopping:
                self.tick()
                if self._stopping:
                    break
                self.clock.wait_until(self._next_deadline(), self._wake)
                self._wake.clear()
            self.drain()
        finally:
            self._history.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def drain(self, timeout: float | None = None) -> None:
        """Wait for the windows this process runs (renewing their leases meanwhile)."""
        while True:
            with self._lock:
                threads = list(self._running.values())
            if not threads:
                return
            threads[0].join(min(self.lease_seconds / 3, timeout) if timeout else self.lease_seconds / 3)
            self._renew_if_due(self.clock.now(), force=True)
            if timeout is not None and threads[0].is_alive():
                return

    @property
    def running(self) -> list[tuple[str, float]]:
        with self._lock:
            return list(self._running)

    # -- windows -------------------------------------------------------------------

    def _launch(self, deployment: Deployment, window: WindowRow) -> None:
        thread = threading.Thread(
            target=self._execute, args=(deployment, window), name=f"legato-window-{window.run_key}", daemon=True
        )
        with self._lock:
            self._running[(window.deployment, window.start)] = thread
        thread.start()

    def _execute(self, deployment: Deployment, window: WindowRow) -> None:
        try:
            try:
                state, error = self.run_window(deployment, window)
            except BaseException as exc:  # the runner itself broke: the window failed, the loop goes on
                state, error = "FAILED", f"{type(exc).__name__}: {exc}"
            if not self.store.finish(window, self.holder, state, self.clock.now().timestamp(), error):
                logger.warning("window %s was taken over by another holder before it ended", window.run_key)
        finally:
            with self._lock:
                self._running.pop((window.deployment, window.start), None)
            self._wake.set()

    def _report(self, row: Any, decisions: list[tuple[float, str, str | None]]) -> None:
        """Log the windows decided against, and write them to the history."""
        passed = [d for d in decisions if d[1] != "PENDING"]
        if not passed:
            return
        for start, state, reason in passed[-5:]:
            logger.info("%s: window %s %s (%s)", row.name, datetime.fromtimestamp(start, timezone.utc).isoformat(), state.lower(), reason)
        if len(passed) > 5:
            logger.info("%s: %d more windows %s", row.name, len(passed) - 5, "skipped or cancelled")
        try:
            self._history.record(row.name, row.flow_name, passed)
        except Exception as exc:  # the history is a record, never a reason to stop serving
            logger.warning("could not record skipped windows in the history: %s", exc)

    def _next_deadline(self) -> datetime:
        now = self.clock.now()
        deadline = now + timedelta(seconds=self.poll_seconds)
        for deployment in self.deployments.values():
            try:
                row = self.store.deployment(deployment.name)
            except LookupError:
                continue
            if row.paused or row.cursor is None:
                continue
            upcoming = deployment.schedule.next_after(datetime.fromtimestamp(row.cursor, timezone.utc))
            if upcoming is not None:
                deadline = min(deadline, upcoming)
        if self._running:
            deadline = min(deadline, self._renewed + timedelta(seconds=self.lease_seconds / 3))
        return max(deadline, now)

    def _renew_if_due(self, now: datetime, force: bool = False) -> None:
        if force or now - self._renewed >= timedelta(seconds=self.lease_seconds / 3):
            self.store.renew(self.holder, now.timestamp() + self.lease_seconds)
            self._renewed = now


def serve(
    *deployments: Deployment,
    clock: Clock | None = None,
    store: Store | None = None,
    handle_signals: bool = True,
    **options: Any,
) -> None:
    """Serve deployments until SIGINT or SIGTERM (blocking); running windows finish first."""
    server = Server(deployments, clock=clock, store=store, **options)
    restore = _install_signal_handlers(server) if handle_signals else None
    try:
        for deployment in deployments:
            logger.info("serving %s: %s", deployment.name, deployment.schedule.describe())
        server.serve_forever()
    finally:
        if restore:
            restore()


def _install_signal_handlers(server: Server) -> Callable[[], None] | None:
    if threading.current_thread() is not threading.main_thread():
        return None
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def handler(signum: int, frame: Any) -> None:
        if server._stopping:  # the second signal: leave now, the next server resumes what ran
            raise KeyboardInterrupt
        logger.warning("stopping: no new windows; waiting for %d running window(s)", len(server.running))
        server.stop()

    for sig in signals:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


__all__ = ["Server", "WindowRunner", "serve"]
