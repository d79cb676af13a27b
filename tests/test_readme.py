"""Every example in README.md runs as written: the blocks are read from the README at test time.

The conventions (the README's Development section says the same):

* A ```python block runs with this environment's ``python``, in a fresh
  temporary folder with its own ``LEGATO_HOME``; it must exit 0 (within
  120 s). Its output is not checked: a block that matters asserts.
* A ```console block is a shell session. Each line starting with ``$ `` is a
  command, run by bash in a fresh folder for the session (its own
  ``LEGATO_HOME``, the repository's ``examples/`` copied in, this
  environment's ``legato`` and ``python`` first on ``PATH``). The lines
  after it (a command line ending with ``\\`` goes on on the next line), up to the next ``$ ``, are its standard output (the run logs go
  to standard error and are not shown); a command shown without output is
  not checked for any. A command exits 0 unless a comment on it says
  otherwise: ``$ legato run f.py:bad   # fails: exit 1``.
* Output is compared line by line and word by word, except where it cannot
  be the same from run to run; these words match any value of their kind:
  run ids (8 or 32 hex digits with a letter among them), dates
  (``2026-11-21``), times (``12:50:50``, ``12:50:50.120``), durations
  (``0.10s``, ``12ms``, ``85µs``, ``3m 02s``), generated run names
  (``gentle-nocturne-403``: two words and three digits), a word the table cut short
  (ending in ``…``), and absolute paths (which match any path with the same
  last part). A line that is just ``...`` stands for any number of lines.
  A run id shown in one output and typed in a later command of the session
  (``legato resume bb0e7d81``) is replaced by the id the session really got.
* ``<!-- file: batch.py -->`` on the line before a block writes the block
  to ``batch.py`` in the folder of every later block (the block is not run
  on its own; a Python file must compile).
* ``<!-- no-run: reason -->`` on the line before a block skips it, saying
  why. Keep these rare: for what cannot run here (a remote cluster).
* ```bash and ```text blocks are instructions, not run here; the quick
  start's commands are run by CI itself (``.ci/run``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BIN = Path(sys.executable).parent
TIMEOUT = 120

_FENCE = re.compile(r"^```(\w*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(file|no-run):\s*(.*?)\s*-->\s*$")
_EXPECTED_EXIT = re.compile(r"#.*\bexit (\d+)\b")


@dataclass
class Block:
    language: str
    text: str
    line: int  # where the block starts in README.md, 1-based
    heading: str
    file: str | None = None
    no_run: str | None = None
    files_before: dict[str, str] = field(default_factory=dict)  # file blocks above this one

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-") or "top"
        return f"{self.language}-line{self.line}-{slug[:40]}"


def read_blocks(text: str) -> list[Block]:
    """The fenced blocks of a markdown text, with the directives just above them."""
    blocks: list[Block] = []
    files: dict[str, str] = {}
    lines = text.splitlines()
    heading, index = "", 0
    while index < len(lines):
        line = lines[index]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        fence = _FENCE.match(line)
        if fence is None or not fence.group(1):
            index += 1
            continue
        end = next((j for j in range(index + 1, len(lines)) if lines[j].startswith("```")), len(lines))
        block = Block(fence.group(1), "\n".join(lines[index + 1 : end]) + "\n", index + 1, heading)
        directive = _DIRECTIVE.match(lines[index - 1]) if index else None
        if directive:
            kind, value = directive.groups()
            if kind == "file":
                block.file = value
            else:
                block.no_run = value or "no reason given"
        block.files_before = dict(files)
        if block.file:
            files[block.file] = block.text
        blocks.append(block)
        index = end + 1
    return blocks


BLOCKS = [block for block in read_blocks(README.read_text()) if block.language in ("python", "console")]


def _folder(tmp_path: Path, block: Block) -> tuple[Path, dict[str, str]]:
    """A fresh folder holding the examples and the README's earlier files, and the environment to run in."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copytree(REPO / "examples", work / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    for name, text in block.files_before.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
    env = {
        **os.environ,
        "LEGATO_HOME": str(tmp_path / "legato-home"),
        "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")]),
        "COLUMNS": "120",
        "NO_COLOR": "1",
        "TERM": "dumb",
        "LEGATO_PROGRESS": "0",
    }
    for name in ("LEGATO_DATABASE", "LEGATO_HISTORY", "LEGATO_TASK_RUNNER", "LEGATO_ENTRYPOINT", "PYTHONPATH"):
        env.pop(name, None)
    return work, env


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_readme_block_runs(block: Block, tmp_path: Path) -> None:
    if block.no_run:
        pytest.skip(f"README line {block.line}: {block.no_run}")
    if block.file:
        if block.file.endswith(".py"):
            compile(block.text, block.file, "exec")
        return
    work, env = _folder(tmp_path, block)
    if block.language == "python":
        _run_python(block, work, env)
    else:
        _run_session(block, work, env)


def _run_python(block: Block, work: Path, env: dict[str, str]) -> None:
    script = work / f"readme_line_{block.line}.py"
    script.write_text(block.text)
    result = subprocess.run(
        [str(BIN / "python"), script.name], cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, f"README line {block.line} exited {result.returncode}:\n{result.stderr}"


@dataclass
class Command:
    text: str
    expected: list[str]
    line: int


def parse_session(block: Block) -> list[Command]:
    commands: list[Command] = []
    continued = False  # the last command line ended with a backslash: this line is more of it
    for offset, line in enumerate(block.text.splitlines()):
        if continued:
            commands[-1].text = commands[-1].text[:-1].rstrip() + " " + line.strip()
            continued = line.rstrip().endswith("\\")
        elif line.startswith("$ "):
            commands.append(Command(line[2:], [], block.line + 1 + offset))
            continued = line.rstrip().endswith("\\")
        elif commands:
            commands[-1].expected.append(line.rstrip())
        elif line.strip():
            raise AssertionError(f"README line {block.line + 1 + offset}: output before any `$ ` command")
    return commands


def _run_session(block: Block, work: Path, env: dict[str, str]) -> None:
    captured: dict[str, str] = {}
    for command in parse_session(block):
        text = command.text
        for shown, real in captured.items():
            text = re.sub(rf"\b{re.escape(shown)}\b", real, text)
        result = subprocess.run(
            ["bash", "-c", text], cwd=work, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
        wanted = _EXPECTED_EXIT.search(command.text)
        code = int(wanted.group(1)) if wanted else 0
        where = f"README line {command.line}: $ {command.text}"
        assert result.returncode == code, (
            f"{where}\nexited {result.returncode}, not {code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        expected = _trimmed(command.expected)
        if not expected:
            continue
        actual = _trimmed([line.rstrip() for line in result.stdout.splitlines()])
        pairs = match_lines(expected, actual)
        assert pairs is not None, (
            f"{where}\nexpected:\n" + "\n".join(expected) + "\ngot:\n" + "\n".join(actual)
        )
        captured.update(_captures(pairs))


def _trimmed(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


# -- comparing output -------------------------------------------------------------

_KINDS = {
    "id": re.compile(r"(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])(?:[0-9a-f]{8}|[0-9a-f]{32})"),
    "date": re.compile(r"\d{4}-\d{2}-\d{2}"),
    "time": re.compile(r"\d{2}:\d{2}:\d{2}(?:\.\d+)?"),
    "duration": re.compile(r"\d+(?:\.\d+)?(?:s|ms|µs)\+?|\d+m|\d+h|\d{2}s|\d{2}m"),
    "name": re.compile(r"[a-z]+-[a-z]+-\d{3}"),
}
_ACTUAL = {
    "id": re.compile(r"[0-9a-f]{8}|[0-9a-f]{32}"),
    "date": _KINDS["date"],
    "time": _KINDS["time"],
    "duration": _KINDS["duration"],
    "name": _KINDS["name"],
}


def kind_of(word: str) -> str | None:
    """The kind of a word whose value varies between runs, or None for a word that must match exactly."""
    if word.endswith("…"):
        return "cut"
    if word.startswith("/") and len(word) > 1:
        return "path"
    for kind, pattern in _KINDS.items():
        if pattern.fullmatch(word):
            return kind
    return None


def words_match(expected: str, actual: str) -> bool:
    if expected == actual:
        return True
    kind = kind_of(expected)
    if kind is None:
        return False
    if kind == "cut":
        return True
    if kind == "path":
        return actual.startswith("/") and actual.rsplit("/", 1)[-1] == expected.rsplit("/", 1)[-1]
    return _ACTUAL[kind].fullmatch(actual) is not None


def line_matches(expected: str, actual: str) -> bool:
    wanted, got = expected.split(), actual.split()
    return len(wanted) == len(got) and all(map(words_match, wanted, got))


def match_lines(expected: list[str], actual: list[str]) -> list[tuple[str, str]] | None:
    """Pairs of (expected, actual) lines if the output matches (``...`` lines match any run of lines)."""
    memo: dict[tuple[int, int], list[tuple[str, str]] | None] = {}

    def match(i: int, j: int) -> list[tuple[str, str]] | None:
        if (i, j) in memo:
            return memo[(i, j)]
        if i == len(expected):
            found = [] if j == len(actual) else None
        elif expected[i].strip() == "...":
            found = next((rest for k in range(j, len(actual) + 1) if (rest := match(i + 1, k)) is not None), None)
        elif j < len(actual) and line_matches(expected[i], actual[j]):
            rest = match(i + 1, j + 1)
            found = None if rest is None else [(expected[i], actual[j]), *rest]
        else:
            found = None
        memo[(i, j)] = found
        return found

    return match(0, 0)


def _captures(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Run ids shown in the README and the ids the session really printed in their place."""
    found = {}
    for expected, actual in pairs:
        for wanted, got in zip(expected.split(), actual.split()):
            if kind_of(wanted) == "id" and wanted != got:
                found[wanted] = got
    return found


# -- the harness itself -------------------------------------------------------------


def test_the_harness_reads_directives_and_sessions() -> None:
    text = (
        "# A\n<!-- file: job.py -->\n```python\nprint(1)\n```\n"
        "<!-- no-run: needs a cluster -->\n```python\nboom\n```\n"
        "```console\n$ legato runs ls   # fails: exit 3\nid  flow\n$ echo hi\n```\n"
    )
    file_block, skipped, session = read_blocks(text)
    assert (file_block.file, skipped.no_run, session.files_before) == ("job.py", "needs a cluster", {"job.py": "print(1)\n"})
    commands = parse_session(session)
    assert [(c.text, c.expected) for c in commands] == [("legato runs ls   # fails: exit 3", ["id  flow"]), ("echo hi", [])]
    assert _EXPECTED_EXIT.search(commands[0].text).group(1) == "3"


def test_the_harness_matches_varying_words_by_kind() -> None:
    expected = ["id        flow     name        started              duration", "bb0e7d81  nightly  gentle-no…  2026-11-21 12:50:50  0.10s", "...", "end /work/main/examples/etl.py:f"]
    actual = ["id  flow  name  started  duration", "0a1b2c3d  nightly  brisk-cadenza-1  2026-12-01 11:00:00  1.25s", "x", "y", "end /tmp/w/examples/etl.py:f"]
    pairs = match_lines(expected, actual)
    assert pairs is not None and _captures(pairs) == {"bb0e7d81": "0a1b2c3d"}
    assert match_lines(["nightly 20"], ["nightly 21"]) is None  # plain words and numbers are exact
    assert match_lines(["run 20261120"], ["run 2026112a"]) is None  # digits only: not an id
    assert match_lines(["a", "..."], ["a"]) is not None and match_lines(["a"], ["a", "b"]) is None


def test_the_readme_has_examples_and_few_skips() -> None:
    assert sum(block.language == "console" and not block.no_run for block in BLOCKS) >= 2
    assert sum(block.language == "python" and not block.no_run and not block.file for block in BLOCKS) >= 2
    assert sum(bool(block.no_run) for block in BLOCKS) <= max(2, len(BLOCKS) // 5), "no-run is for what cannot run here"
