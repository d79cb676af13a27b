"""A Prefect 3 program with only its imports changed (``prefect`` -> ``legato``).

It uses every Prefect import path legato provides. Run as a script, it prints
one JSON line of what it observed; tests/porting/test_prefect_program.py runs
it on threads and on processes and checks every value.
"""

import json
import sys
from datetime import timedelta

from legato import flow, get_run_logger, task, tags
from legato.context import FlowRunContext, TaskRunContext, get_run_context
from legato.futures import PrefectFuture, PrefectFutureList, wait
from legato.logging import disable_run_logger
from legato.logging import get_run_logger as get_logger_from_logging
from legato.runtime import flow_run, task_run
from legato.states import Completed, Failed
from legato.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from legato.tasks import exponential_backoff, task_input_hash
from legato.utilities.annotations import allow_failure, quote, unmapped

attempts = {"n": 0}


@task(cache_key_fn=task_input_hash, cache_expiration=timedelta(minutes=5))
def square(x: int) -> int:
    return x * x


@task(retries=2, retry_delay_seconds=exponential_backoff(backoff_factor=0.01))
def flaky(x: int) -> dict:
    get_logger_from_logging().info("flaky attempt %d", task_run.run_count)
    if task_run.run_count < 2:
        raise RuntimeError("first attempt fails")
    return {"run_count": task_run.run_count, "parameters": task_run.parameters, "name": task_run.task_name}


@task
def scale(x: int, factor: int) -> int:
    return x * factor


@task
def fails() -> int:
    raise ValueError("expected failure")


@task
def tolerant(upstream) -> str:
    return type(upstream).__name__


@task
def context_names() -> dict:
    context = get_run_context()
    return {"task_context": TaskRunContext.get() is context, "flow_run_id_known": flow_run.id is not None,
            "tags": sorted(task_run.tags)}


@task
def length(items) -> int:
    return len(items)


@flow(log_prints=True)
def ported(n: int = 4) -> dict:
    get_run_logger().info("starting with n=%s", n)
    print("printed from the flow")
    squares = square.map(range(n))
    assert isinstance(squares, PrefectFutureList) and all(isinstance(f, PrefectFuture) for f in squares)
    done, not_done = wait(squares)
    scaled = scale.map(squares, unmapped(10))
    failed = fails.submit()
    with tags("nightly"):
        context = context_names.submit()
    observed = {
        "squares": squares.result(),
        "scaled": scaled.result(),
        "done": len(done), "not_done": len(not_done),
        "flaky": flaky(3),
        "tolerant": tolerant.submit(allow_failure(failed)).result(),
        "quoted_length": length(quote([1, 2, 3])),
        "failed_state": fails(return_state=True).type.value,
        "context": context.result(),
        "flow_context": FlowRunContext.get() is get_run_context(),
        "flow_run_name": flow_run.name == FlowRunContext.get().flow_run.name,
        "flow_parameters": flow_run.parameters,
    }
    with disable_run_logger():
        observed["direct_fn"] = square.fn(7)
    return observed


@flow
def returns_state():
    return Completed(data=5)


@flow
def returns_failed_state():
    return Failed(message="it went wrong")


if __name__ == "__main__":
    runner = ThreadPoolTaskRunner(max_workers=4) if sys.argv[1] == "threads" else ProcessPoolTaskRunner(max_workers=2)
    observed = ported.with_options(task_runner=runner)(n=4)
    observed["returns_state"] = returns_state()
    observed["returns_failed_state"] = returns_failed_state(return_state=True).type.value
    print(json.dumps(observed, sort_keys=True))
