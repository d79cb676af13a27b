"""Async tasks and flows as Prefect 3 runs them (checked on Prefect 3.9 with the same program).

In an async flow: ``await my_async_task(x)`` gives the value (``return_state=True`` the state);
``my_async_task.submit(x)`` gives a future (not awaitable: ``await`` on it is a ``TypeError``), whose
``result()`` is the value; a sync task called there returns its value; ``.map`` works for both;
an async task may await another; ``asyncio.gather`` of task calls runs them.
"""

from __future__ import annotations

import asyncio

import pytest

from legato import flow, task


@task
async def double(x):
    await asyncio.sleep(0)
    return 2 * x


@task
def triple(x):
    return 3 * x


@task
async def double_plus_one(x):
    return await double(x) + 1


RUNNER_NAMES = ("sync", "threads", "processes")


def test_async_tasks_in_an_async_flow_on_every_runner(runner):
    """Prefect: await, submit, map and gather of async tasks, and sync tasks, in one async flow; the same
    results on threads and processes (where the coroutine runs in the worker's own event loop)."""

    @flow(task_runner=runner)
    async def mixed():
        awaited = await double(3)
        state = await double(2, return_state=True)
        submitted = double.submit(4)
        with pytest.raises(TypeError, match="await"):
            await submitted
        return (awaited, state.name, submitted.result(), triple(5), double.map([1, 2]).result(),
                triple.map([1, 2]).result(), await double_plus_one(1),
                await asyncio.gather(double(5), double(6)))

    assert asyncio.run(mixed()) == (6, "Completed", 8, 15, [2, 4], [3, 6], 3, [10, 12])


def test_an_async_generator_task_in_an_async_flow():
    """Prefect: an async generator task called in an async flow is iterated with ``async for``."""

    @task
    async def ticks(n):
        for i in range(n):
            yield i

    @flow
    async def streamed():
        return [i async for i in ticks(3)]

    assert asyncio.run(streamed()) == [0, 1, 2]
