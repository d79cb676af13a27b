"""Done callbacks on Dask futures without a coroutine per future.

``distributed.Future.add_done_callback`` hands the client's event loop, from
the calling thread, a coroutine that waits on the future's state and then
passes the callback to one callback thread. Per future that is a wake-up of
the loop (a write to its self-pipe), a tornado coroutine and an
``asyncio.Event`` wait. Measured on the benchmark's 2-core machine, a
1,000-link chain whose futures each got such a callback cost the flow
process about 0.3-0.9 ms more CPU per link than the same chain with the
futures kept and no callback; and that CPU competes for the GIL with the
scheduler whenever the cluster is a ``LocalCluster`` in the same process.

:func:`when_done` gets the same outcome more cheaply. The client already
tells each future's state object (``distributed.client.FutureState``) when
the scheduler reports the key finished, erred, lost or cancelled, on the
loop thread; the state object of a watched key is given a subclass
(:class:`_Watched`, same slots, so only its class changes) whose transitions
also pass the callback to the *same* callback thread Dask uses. Nothing
else changes: callbacks still never run on the loop (they may call the
client), still run one at a time, and run when Dask's would (the state
leaves ``pending``).

This leans on a private class of ``distributed``; if it is not what this
module expects (another version), :func:`when_done` falls back to the public
``add_done_callback``, and ``tests/runners/test_dependency_assumptions.py``
checks the assumption.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

#: the callback of each watched key (one per key: a second watcher falls back to Dask's way)
_watchers: dict[Any, Callable[[], None]] = {}
_lock = threading.Lock()
_watched_class: Any = None  # built on first use, so importing this module imports no Dask


def when_done(future: Any, callback: Callable[[], None]) -> None:
    """Call ``callback()`` on Dask's callback thread once ``future`` is no longer pending."""
    state = getattr(future, "_state", None)
    watched = _watched()
    base = watched.__bases__[0] if watched is not None else None
    if base is None or type(state) is not base or getattr(state, "key", None) is None:
        future.add_done_callback(lambda _future: callback())
        return
    key = state.key
    with _lock:
        if key in _watchers:
            registered = False
        else:
            registered = True
            if state.status == "pending":
                _watchers[key] = callback
                state.__class__ = watched
                if state.status == "pending":  # else it ended before its class changed: fired below
                    return
                callback = _watchers.pop(key, None)  # type: ignore[assignment]
                if callback is None:  # the loop fired it meanwhile
                    return
    if not registered:
        future.add_done_callback(lambda _future: callback())
        return
    _executor().submit(_run, callback)  # already finished, erred or cancelled


def _fire(key: Any) -> None:
    with _lock:
        callback = _watchers.pop(key, None)
    if callback is not None:
        _executor().submit(_run, callback)


def _run(callback: Callable[[], None]) -> None:
    try:
        callback()
    except BaseException:
        import logging

        logging.getLogger("legato.runners.dask").exception("Error in done callback %r", callback)
        raise


def _watched() -> Any:
    """The subclass of ``FutureState`` whose transitions fire the key's callback (None if unavailable)."""
    global _watched_class
    if _watched_class is None:
        try:
            from distributed.client import FutureState
        except ImportError:  # pragma: no cover - distributed without it
            _watched_class = False
            return None
        if not all(callable(getattr(FutureState, name, None)) for name in ("finish", "set_error", "cancel", "lose")):
            _watched_class = False
            return None

        class _Watched(FutureState):  # type: ignore[misc, valid-type]
            __slots__ = ()

            def finish(self, *args: Any, **kwargs: Any) -> None:
                super().finish(*args, **kwargs)
                _fire(self.key)

            def set_error(self, *args: Any, **kwargs: Any) -> None:
                super().set_error(*args, **kwargs)
                _fire(self.key)

            def cancel(self, *args: Any, **kwargs: Any) -> None:
                super().cancel(*args, **kwargs)
                _fire(self.key)

            def lose(self, *args: Any, **kwargs: Any) -> None:
                super().lose(*args, **kwargs)
                _fire(self.key)

        _watched_class = _Watched
    return _watched_class or None


def _executor() -> Any:
    """Dask's own callback thread (``Dask-Callback-Thread``), made as ``Future.add_done_callback`` makes it."""
    from distributed import Future

    cls = Future
    if cls._cb_executor is None or cls._cb_executor_pid != os.getpid():
        from concurrent.futures import ThreadPoolExecutor

        cls._cb_executor = ThreadPoolExecutor(1, thread_name_prefix="Dask-Callback-Thread")
        cls._cb_executor_pid = os.getpid()
    return cls._cb_executor


def _forget_after_fork() -> None:
    """In a forked child: the parent's watched futures are not this process's, and its lock may be held."""
    global _watchers, _lock
    _watchers, _lock = {}, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)


__all__ = ["when_done"]
