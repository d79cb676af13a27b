"""legato's one error hierarchy.

Every error legato raises on purpose derives from :class:`LegatoError`, and
also from the builtin whose meaning fits, so ``except ValueError`` keeps
working for code that does not know legato::

    LegatoError
    ├── MappingError (ValueError)
    │   ├── MappingMissingIterable       map() got nothing to iterate over
    │   └── MappingLengthMismatch        map() got iterables of unequal length
    ├── ParameterTypeError (TypeError)   a flow parameter failed validation
    ├── ParameterBindError (TypeError)   a flow's arguments do not fit its signature
    ├── ReservedArgumentError (TypeError)  a function's parameter is named like a call option (return_state)
    ├── UnfinishedRun (RuntimeError)     result() of a run that is not final
    │   └── UpstreamNotReady             a task did not run: an upstream failed
    ├── TaskTimeoutError (TimeoutError)  a task ran longer than timeout_seconds
    ├── FlowTimeoutError (TimeoutError)  a flow ran longer than timeout_seconds
    ├── FailedRun                        result() of a Failed state that holds no exception
    ├── CancelledRun                     the run was cancelled before it finished
    ├── CrashedRun                       the run ended by an interrupt or a dead worker
    ├── SerializationError (TypeError)   something could not cross a process boundary
    ├── MissingDependencyError (ImportError)  an optional backend is not installed
    ├── PartitionError (RuntimeError)    a mapped Dask partition / Ray object could not be computed
    ├── UnavailableFeature (ImportError) a Prefect feature that needs Prefect's server
    ├── ConfigurationError (ValueError)  settings that cannot work together (SERIALIZABLE without a lock manager)
    └── RunnerError (RuntimeError)       a task runner failed, not the task
        ├── WorkerCrashedError           a worker process died under a task
        ├── WorkerStartupError           worker processes cannot start (e.g. an unguarded script)
        └── EagerAttemptNotRun           (internal) an eager attempt did not run: an upstream did not succeed

Misuse of the API (a bad option, ``submit`` outside a flow) raises the plain
builtin that fits: ``ValueError``, ``TypeError`` or ``RuntimeError``.
"""

from __future__ import annotations


class LegatoError(Exception):
    """Base class of every error legato raises on purpose."""


class MappingError(LegatoError, ValueError):
    """``Task.map`` could not line its arguments up."""


class MappingMissingIterable(MappingError):
    """``Task.map`` was called without any iterable argument to map over."""


class MappingLengthMismatch(MappingError):
    """``Task.map`` was given iterables of different lengths."""


class ParameterTypeError(LegatoError, TypeError):
    """A flow parameter does not match its type hint and cannot be coerced."""


class ParameterBindError(LegatoError, TypeError):
    """A flow's call arguments do not fit its signature (a missing or unexpected argument)."""


class ReservedArgumentError(LegatoError, TypeError):
    """A task or flow function has a parameter named like an option of the call (``return_state``, ...)."""


class UnfinishedRun(LegatoError, RuntimeError):
    """The result of a run was asked for before the run reached a final state."""


class UpstreamNotReady(UnfinishedRun):
    """A task never ran because a task it depends on did not complete."""


class DependencyCycleError(LegatoError, RuntimeError):
    """A task waits for a run that (through its edges or its own waits) waits for that task: it would never end."""


class TaskTimeoutError(LegatoError, TimeoutError):
    """A task ran longer than its ``timeout_seconds``."""


class FlowTimeoutError(LegatoError, TimeoutError):
    """A flow run (its body and its tasks) ran longer than its ``timeout_seconds``."""


class FailedRun(LegatoError):
    """``result()`` of a Failed state made without an exception (``Failed(message=...)``), as Prefect's."""


class CancelledRun(LegatoError):
    """The run was cancelled before it finished."""


class CrashedRun(LegatoError):
    """The run was ended by something other than its own code failing."""


class ConfigurationError(LegatoError, ValueError):
    """Options that cannot work together, e.g. a SERIALIZABLE transaction on a store without a lock manager."""


class SerializationError(LegatoError, TypeError):
    """An object could not be serialized or deserialized."""


class MissingDependencyError(LegatoError, ImportError):
    """An optional package that a feature needs is not installed."""


class PartitionError(LegatoError, RuntimeError):
    """An input the backend computes (a Dask partition, a Ray object) failed; the message names it."""


class UnavailableFeature(LegatoError, ImportError):
    """A Prefect name that legato deliberately does not provide (it needs Prefect's API server).

    The message says what legato offers instead; see :mod:`legato.unavailable`.
    """


class RunnerError(LegatoError, RuntimeError):
    """A task runner failed, as opposed to the task it was running."""


class WorkerCrashedError(RunnerError):
    """The worker process running a task died before the task finished."""


class WorkerStartupError(RunnerError):
    """Worker processes cannot start, so no task can run on that runner: retrying would not help.

    Raised, for instance, when the worker processes re-import a script that
    starts its flow at top level, without ``if __name__ == "__main__":``.
    """


class EagerAttemptNotRun(RunnerError):
    """An eagerly submitted attempt did not run its task: an upstream it was given did not succeed.

    What the future of :meth:`legato.runners.base.TaskRunner.submit_eager`
    reports then. It never reaches users: the engine takes it to mean "this
    run has not started" and dispatches the run the ordinary way once its
    upstreams are final (an upstream that failed and retries does not make
    the dependent NotReady).
    """


def format_error(error: BaseException | None) -> str | None:
    """The full traceback text of ``error`` (what the run history stores), None for no error."""
    if error is None:
        return None
    import traceback

    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


__all__ = [
    "CancelledRun",
    "ConfigurationError",
    "CrashedRun",
    "DependencyCycleError",
    "EagerAttemptNotRun",
    "FailedRun",
    "FlowTimeoutError",
    "LegatoError",
    "MappingError",
    "MappingLengthMismatch",
    "MappingMissingIterable",
    "MissingDependencyError",
    "ParameterBindError",
    "ParameterTypeError",
    "PartitionError",
    "ReservedArgumentError",
    "RunnerError",
    "SerializationError",
    "TaskTimeoutError",
    "UnavailableFeature",
    "UnfinishedRun",
    "UpstreamNotReady",
    "WorkerCrashedError",
    "WorkerStartupError",
]
