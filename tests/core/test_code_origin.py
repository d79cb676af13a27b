"""A task's function that travels by value keeps its file name and lines (remote tracebacks name the user's file)."""

from __future__ import annotations

import traceback

import cloudpickle
import pytest

from legato import task

SCRIPT = '''\
def helper(x):
    raise ValueError(f"bad {x}")


def transform(x):
    square = lambda v: helper(v)
    return square(x)
'''


@pytest.fixture
def script_task(tmp_path):
    """A task defined in a script run as ``__main__``: cloudpickle carries it by value, as for a user's script."""
    path = tmp_path / "pipeline.py"
    path.write_text(SCRIPT)
    namespace = {"__name__": "__main__"}
    exec(compile(SCRIPT, str(path), "exec"), namespace)
    return task(namespace["transform"]), str(path)


def _frames_of(fn, *args):
    with pytest.raises(ValueError) as caught:
        fn(*args)
    return [(frame.filename, frame.lineno) for frame in traceback.extract_tb(caught.value.__traceback__)][1:]


def test_a_by_value_task_keeps_its_file_name_and_lines(script_task):
    original, path = script_task
    copy = cloudpickle.loads(cloudpickle.dumps(original))
    assert copy.fn is not original.fn  # it really travelled by value
    # transform (line 7), the lambda inside it (line 6), helper (line 2): all in the user's file
    assert _frames_of(copy.fn, 3) == [(path, 7), (path, 6), (path, 2)]


def test_the_pickler_assumption_is_named():
    """The assumption this module exists for: cloudpickle may drop a by-value function's file name.

    If a cloudpickle release keeps file names again, restoring is a no-op (tested
    above either way); this test only documents which behaviour is installed.
    """
    ns = {"__name__": "__main__"}
    exec(compile("def f():\n    return 1\n", "/somewhere/script.py", "exec"), ns)
    filename = cloudpickle.loads(cloudpickle.dumps(ns["f"])).__code__.co_filename
    assert filename in ("/somewhere/script.py", "<dynamic-code>"), (
        f"cloudpickle {cloudpickle.__version__} names by-value code {filename!r}: "
        "legato.core.code_origin only restores names in angle brackets"
    )


def test_a_real_file_name_is_never_rewritten(script_task):
    original, path = script_task
    from legato.core.code_origin import restore_source_file

    restore_source_file(original.fn, "/elsewhere.py")
    assert original.fn.__code__.co_filename == path
