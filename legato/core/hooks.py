"""State-change hooks: the lists tasks and flows keep, and how one is called.

``@task(on_failure=[notify])`` and Prefect's decorator form both work, because
a hook list is also callable: ``@my_task.on_failure`` appends the function it
decorates and gives it back, so ``my_task.on_failure`` stays the list the
engine iterates. A hook may be ``async def``; its coroutine is run to the end
before the next hook (in a fresh event loop, or on a helper thread when the
caller is inside one). A hook that raises is logged by the caller and the
others still run.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

Hook = Callable[..., Any]


class HookList(list):  # type: ignore[type-arg]
    """The hooks of one kind (``on_completion``, ...) of a task or flow; call it to add one, as a decorator."""

    __slots__ = ("kind",)

    def __init__(self, hooks: Iterable[Hook] = (), kind: str = "hook") -> None:
        super().__init__(hooks)
        self.kind = kind

    def __call__(self, fn: Hook) -> Hook:
        _check_callable(fn, self.kind)
        self.append(fn)
        return fn


def hook_list(hooks: Any, kind: str) -> HookList:
    """Validate ``hooks`` (None, one callable, or an iterable of callables) into a fresh :class:`HookList`."""
    if hooks is None:
        return HookList(kind=kind)
    if callable(hooks) and not isinstance(hooks, HookList):
        hooks = [hooks]
    try:
        items = list(hooks)
    except TypeError:
        raise TypeError(
            f"Expected iterable for {kind!r}; got {type(hooks).__name__} instead. "
            f"Please provide a list of hooks to {kind!r}: {kind}=[hook1, hook2]"
        ) from None
    for hook in items:
        _check_callable(hook, kind)
    return HookList(items, kind)


def call_hook(hook: Hook, *args: Any) -> None:
    """Call one hook; an ``async def`` hook is awaited to the end."""
    result = hook(*args)
    if inspect.isawaitable(result):
        _run_to_end(result)


def _run_to_end(awaitable: Any) -> None:
    import asyncio

    async def wrapped() -> Any:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(wrapped())
        return
    import concurrent.futures  # inside a running loop: do not block it with a nested run

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, wrapped()).result()


def _check_callable(hook: Any, kind: str) -> None:
    if not callable(hook):
        raise TypeError(f"Expected callables in {kind!r}; got {type(hook).__name__} instead.")


__all__ = ["Hook", "HookList", "call_hook", "hook_list"]
