"""What legato assumes of its dependencies' internals, one test per assumption.

The registry moves: when a new release of Dask, Ray, tenacity or cloudpickle
changes one of these, this file says which assumption broke and where legato
relies on it, instead of a runner failing somewhere downstream.
"""

from __future__ import annotations

import inspect

import pytest


def test_tenacity_strategy_families_are_modules_with_base_classes():
    """legato.core.retries (``_is_tenacity``) tells a user's tenacity strategy by its base class's module."""
    import tenacity
    from tenacity.retry import retry_base
    from tenacity.stop import stop_base
    from tenacity.wait import wait_base

    for strategy, base in ((tenacity.wait_fixed(1), wait_base), (tenacity.stop_after_attempt(2), stop_base),
                           (tenacity.retry_if_exception_type(IOError), retry_base)):
        assert isinstance(strategy, base)
        assert any(cls.__module__ == base.__module__ and cls.__name__.endswith("_base") for cls in type(strategy).__mro__)


def test_dask_worker_thread_state_names_the_running_task(dask_address):
    """legato.runners.dask._in_worker_task reads ``distributed.worker.thread_state.key/start_time`` in a task."""
    from distributed import Client

    def probe():
        from distributed.worker import thread_state

        return getattr(thread_state, "key", None) is not None, getattr(thread_state, "start_time", None) is not None

    with Client(dask_address, set_as_default=False) as client:
        assert client.submit(probe, pure=False).result(timeout=30) == (True, True)


def test_dask_has_an_event_topic_side_channel():
    """legato.runners._worker_logs publishes worker logs with ``Worker.log_event`` / ``Client.subscribe_topic``."""
    from distributed import Client, Worker

    assert callable(Worker.log_event) and callable(Client.subscribe_topic)


def test_ray_serialization_context_and_colour_switch():
    """legato.runners.ray uses ``ray._private.worker.global_worker.get_serialization_context`` (the result
    check) and relies on Ray's driver reading ``RAY_COLOR_PREFIX`` as it prints worker output."""
    pytest.importorskip("ray")
    from ray._private import worker

    assert callable(getattr(worker.global_worker, "get_serialization_context", None))
    assert "RAY_COLOR_PREFIX" in inspect.getsource(worker)


def test_dask_future_states_take_a_subclass_that_hears_every_ending(dask_address):
    """legato.runners._dask_callbacks gives a watched key's ``distributed.client.FutureState`` a subclass
    (same slots) whose finish/set_error/cancel/lose fire the callback on Dask's callback thread."""
    import threading
    import time

    from distributed import Client, Event

    from legato.runners._dask_callbacks import when_done

    def fail() -> None:
        raise KeyError("no")

    def wait_for_event(name: str) -> int:
        Event(name).wait(30)
        return 1

    heard: dict[str, tuple[str, str]] = {}
    done = threading.Event()

    def hear(label: str, future) -> None:  # type: ignore[no-untyped-def]
        heard[label] = (future.status, threading.current_thread().name)
        if len(heard) == 4:
            done.set()

    with Client(dask_address, set_as_default=False) as client:
        finished = client.submit(sum, [1, 2], pure=False)
        erred = client.submit(fail, pure=False)
        blocked = client.submit(wait_for_event, f"legato-when-done-{time.time()}", pure=False)
        for label, future in (("finished", finished), ("erred", erred), ("cancelled", blocked)):
            when_done(future, lambda label=label, future=future: hear(label, future))
        assert type(finished._state).__name__ == "_Watched"  # not the fallback to add_done_callback
        blocked.cancel()
        finished.result(timeout=30)
        when_done(finished, lambda: hear("already", finished))  # an ended future: called at once
        assert done.wait(30), heard
    assert {label: status for label, (status, _) in heard.items()} == {
        "finished": "finished", "erred": "error", "cancelled": "cancelled", "already": "finished"}
    assert all(thread.startswith("Dask-Callback-Thread") for _, thread in heard.values())
