"""Fuzzing ``graphflow validate``: whatever the file says, one short located answer.

The promise (issue 8): ``graphflow validate FILE`` exits 0, or exits 2 with
``FILE:LINE:COL: reason`` lines on stderr (one per mistake, each at most ~300
characters however long the input), and never with a traceback.

``test_validate_answers_every_mutated_workflow`` mutates the shipped
workflows (``workflows/*.yaml``) with ``random.Random(seed)`` for seeds
``0 .. N-1`` — the same files on every run — by inserting, deleting and
duplicating characters and spans, swapping lines, and injecting tags,
anchors, aliases, control characters, deep nesting, huge scalars and
reference syntax; each file goes through ``graphflow.cli.main`` in-process.
A failure names its seed and mutations, so it can be replayed with
``mutate(text, random.Random(seed))``.

N is 100 by default (about three seconds); set ``GRAPHFLOW_FUZZ_EXAMPLES`` for a
longer run, without pytest's per-test timeout::

    GRAPHFLOW_FUZZ_EXAMPLES=5000 python -m pytest tests/workflow/test_fuzz.py --timeout 0

``test_hostile_corpus`` runs the inputs measured on main (each was a
traceback or an answer over 4 KB) and a few more, by name.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graphflow.cli import main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "workflows").glob("*.yaml"))
FUZZ_EXAMPLES = int(os.environ.get("GRAPHFLOW_FUZZ_EXAMPLES", "100"))
MAX_LINE = 300
MAX_LINES = 21  # twenty errors, then "and N more errors"
PREFIX = "graphflow: error: "  # the CLI's, before the first line

SNIPPETS = [
    *("!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!null ", "!!str ", "!!map ", "!!seq "),
    *("!!binary ", "!!set ", "!!omap ", "!custom ", "!!python/object/apply:os.system ", "! "),
    *("&a ", "*a ", "&a [*a]", "<<: *a\n", "? ", "- ", ": ", "{", "}", "[", "]", ", ", "#"),
    *("'", '"', "|\n", ">-\n", "\t", "\n", "    ", "---\n", "...\n", "%YAML 1.1\n", "@", "`"),
    *("${", "$${", "${}", "${inputs.", "${item}", "${item.x}", "${nodes}", "${a.b", "}", "."),
    *("~", "null", "true", "-1", "0", "1e999", ".nan", ".inf", "2024-13-45", "0x1F", "1_000"),
    *("tool: ", "args: ", "for_each: ", "depends_on: ", "retries: ", "timeout: ", "tools: "),
    *("if: ", "partial: ", "limits: ", "env: ", "secrets: ", "outputs: ", "${env.", ":-"),
    *("${env.HOME}", "${env.NOPE:-x}", " and ", " or ", "not ", " == ", " > ", "__import__("),
]
CONTROL = ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff"]
CONTROL += ["\ufffe", "\r", "\ud800", "\u00e9", "\U0001d518", "\u200b"]


def _insert(text: str, rng: random.Random, piece: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + piece + text[at:]


def _span(text: str, rng: random.Random, longest: int) -> tuple[int, int]:
    start = rng.randrange(len(text) + 1)
    return start, min(len(text), start + rng.randint(1, longest))


def _delete(text: str, rng: random.Random) -> str:
    start, end = _span(text, rng, 20)
    return text[:start] + text[end:]


def _duplicate(text: str, rng: random.Random) -> str:
    start, end = _span(text, rng, 80)
    return _insert(text, rng, text[start:end])


def _swap_lines(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _foreign_line(text: str, rng: random.Random) -> str:
    donor = rng.choice(SHIPPED).read_text().split("\n")
    lines = text.split("\n")
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(donor))
    return "\n".join(lines)


def _replace_word(text: str, rng: random.Random) -> str:
    words = list(re.finditer(r"[\w.${}]+", text))
    if not words:
        return text
    word = rng.choice(words)
    return text[: word.start()] + rng.choice(SNIPPETS).strip() + text[word.end() :]


def _nesting(rng: random.Random) -> str:
    depth = rng.choice([10, 63, 64, 65, 500, 5000])
    return rng.choice(["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth, "[" * depth])


def _huge(rng: random.Random) -> str:
    size = rng.choice([1000, 4301, 100_000])
    return rng.choice(["9" * size, "x" * size, "${" + "a" * size + "}", "a." * size])


MUTATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "insert char": lambda t, r: _insert(t, r, chr(r.randrange(32, 0x2FF))),
    "insert control": lambda t, r: _insert(t, r, r.choice(CONTROL)),
    "insert snippet": lambda t, r: _insert(t, r, r.choice(SNIPPETS)),
    "delete span": _delete,
    "duplicate span": _duplicate,
    "swap lines": _swap_lines,
    "foreign line": _foreign_line,
    "replace word": _replace_word,
    "deep nesting": lambda t, r: _insert(t, r, _nesting(r)),
    "huge scalar": lambda t, r: _insert(t, r, _huge(r)),
}


def mutate(text: str, rng: random.Random) -> tuple[str, list[str]]:
    """``text`` with 1 to 4 random mutations, and their names (to replay a failure)."""
    names = [rng.choice(list(MUTATIONS)) for _ in range(rng.randint(1, 4))]
    for name in names:
        text = MUTATIONS[name](text, rng)
    return text, names


def answer_problem(path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str | None:
    """What is wrong with ``validate``'s answer to ``text`` written at ``path`` (None: nothing)."""
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    capsys.readouterr()
    try:
        code = main(["validate", str(path)])
    except Exception as exc:  # the bug this module is here to find
        return f"raised {type(exc).__name__}: {str(exc)[:200]}"
    out, err = capsys.readouterr()
    if code == 0:
        return None if out.startswith("ok: ") and not err else f"exit 0 with stderr {err[:200]!r}"
    if code != 2:
        return f"exit {code}: {err[:300]!r}"
    return located_problem(err, str(path))


def located_problem(err: str, path: str) -> str | None:
    """What is wrong with stderr ``err`` as a list of located lines for ``path``."""
    lines = err.removesuffix("\n").split("\n")
    if not 1 <= len(lines) <= MAX_LINES:
        return f"{len(lines)} lines on stderr"
    located = re.compile(re.escape(path) + r":\d+:\d+: \S")
    for line in lines:
        if len(line) > MAX_LINE:
            return f"a line of {len(line)} characters: {line[:200]!r}"
        if not located.match(line.removeprefix(PREFIX)):
            return f"not a located line: {line[:200]!r}"
    return None


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A folder with a short name (a line's length includes it), holding the tools modules."""
    with tempfile.TemporaryDirectory(prefix="gf-") as folder:
        for module in (ROOT / "workflows").glob("*.py"):
            shutil.copy(module, folder)
        yield Path(folder)


def test_validate_answers_every_mutated_workflow(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    failures = []
    for seed in range(FUZZ_EXAMPLES):
        rng = random.Random(seed)
        source = rng.choice(SHIPPED)
        text, names = mutate(source.read_text(), rng)
        problem = answer_problem(short_dir / source.name, text, capsys)
        if problem is not None:
            failures.append(f"seed {seed} ({source.name}, {', '.join(names)}): {problem}")
    assert not failures, f"{len(failures)} bad answers:\n" + "\n".join(failures[:10])


def _chain(length: int) -> str:
    """``length`` for_each nodes, each over the one before (a runtime chain)."""
    lines = ["name: chain", "nodes:", "  src: {tool: echo, args: {v: [1, 2]}}"]
    lines.append("  n0: {tool: echo, for_each: '${src.v}', args: {v: '${item}'}}")
    lines += [
        f"  n{i}: {{tool: echo, for_each: '${{n{i - 1}}}', args: {{v: '${{item}}'}}}}"
        for i in range(1, length)
    ]
    return "\n".join(lines) + "\n"


NODE = "name: x\nnodes:\n  a: {tool: echo, args: {v: %s}}\n  b: {tool: echo, args: {v: 1}}\n"
HOSTILE = {
    "control character": NODE % '"a\x01b"',
    "500 [ then 500 ]": "name: x\nnodes: " + "[" * 500 + "]" * 500 + "\n",
    "500 nested flow mappings": "name: x\nnodes: " + "{a: " * 500 + "}" * 500 + "\n",
    "!!int abc": NODE % "!!int abc",
    "!!float abc": NODE % "!!float abc",
    "!!bool maybe": NODE % "!!bool maybe",
    "!!timestamp abc": NODE % "!!timestamp abc",
    "!!map on a scalar": NODE % "!!map abc",
    "!!map on a key": "name: x\nnodes:\n  a: {tool: echo, args: {!!map v: 1}}\n",
    "!custom": NODE % "!custom {x: 1}",
    "4,301-digit concurrency": "name: x\nconcurrency: "
    + "1" * 4301
    + "\nnodes: {a: {tool: echo}}\n",
    "4,000-digit concurrency": "name: x\nconcurrency: "
    + "1" * 4000
    + "\nnodes: {a: {tool: echo}}\n",
    "tools: ['']": "name: x\ntools: ['']\nnodes: {a: {tool: echo}}\n",
    "tools: ['.x']": "name: x\ntools: ['.x']\nnodes: {a: {tool: echo}}\n",
    "100,000-character tool name": "name: x\nnodes:\n  a: {tool: " + "t" * 100_000 + "}\n",
    "100,000-character node id": "name: x\nnodes:\n  ? " + "n" * 100_000 + "\n  : {tool: nope}\n",
    "unclosed reference": NODE % "'${b.y'",
    "escaped reference to no node": NODE % "'$${not_a_ref}'",
    "recursive alias": "name: x\nnodes: &n {a: {tool: echo, args: {v: *n}}}\n",
    "1,000 chained for_each nodes": _chain(1000),
    "if: a call": "name: x\nnodes:\n  a: {tool: echo, if: \"__import__('os').system('ls')\"}\n",
    "if: 500 nots": "name: x\nnodes:\n  a: {tool: echo, if: '" + "not " * 500 + "true'}\n",
    "if: 100,000 parentheses": "name: x\nnodes:\n  a: {tool: echo, if: '"
    + "(" * 50_000
    + ")" * 50_000
    + "'}\n",
    "if: a huge condition": "name: x\nnodes:\n  a: {tool: echo, if: '" + "1 == " * 20_000 + "1'}\n",
    "if: a mapping": "name: x\nnodes:\n  a: {tool: echo, if: {x: 1}}\n",
    "${env} with a huge default": NODE % ("'${env.NOPE:-" + "d" * 100_000 + "}'"),
    "${env} with a huge name": NODE % ("'${env." + "N" * 100_000 + "}'"),
    "a secret named 100,000 times": "name: x\nsecrets: ["
    + ", ".join(["HOME"] * 10_000)
    + "]\nnodes: {a: {tool: echo}}\n",
    "limits: a huge pool": "name: x\nlimits: {api: " + "9" * 5000 + "}\nnodes: {a: {tool: echo}}\n",
    "limits: 10,000 unknown pools": "name: x\nnodes:\n  a: {tool: echo, limits: ["
    + ", ".join(f"p{i}" for i in range(10_000))
    + "]}\n",
    "outputs: a deep reference": "name: x\nnodes: {a: {tool: echo}}\noutputs: {r: '${a."
    + ".".join(["k"] * 10_000)
    + "}'}\n",
    "env: a list of values": "name: x\nenv: {A: [1, [2, [3]]]}\nnodes: {a: {tool: echo}}\n",
    "partial: a string": "name: x\nnodes: {a: {tool: echo, for_each: [1], partial: 'x' }}\n",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_corpus(name: str, short_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = short_dir / "hostile.yaml"
    path.write_text(HOSTILE[name])
    capsys.readouterr()
    code = main(["validate", str(path)])  # an exception here fails the test
    out, err = capsys.readouterr()
    assert code in (0, 2), err[-300:]
    if code == 0:
        assert out.startswith("ok: ") and err == ""
    else:
        assert located_problem(err, str(path)) is None, err[:300]
