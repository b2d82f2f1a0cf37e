"""Every fenced ``bash`` and ``python`` block of README.md and docs/*.md, run as a test.

Blocks are parsed by Sybil (its Markdown lexer and Python evaluator; bash blocks by :func:`run_bash`) and
run in file order, one temporary folder per file, so a block may use what an earlier block of the same file
made (a store, a plugin file). A Python block whose first line is a comment naming a file
(``# plugins/mine.py``) is that file's content: it is written there, not executed, and a later block runs
it (``optbench check plugins/mine.py``). Blocks that cannot run here are in :data:`SKIP`, each with its
reason; long ones are in :data:`SLOW`. An entry names its file and a piece of text unique to its block, so
edits elsewhere in a file do not move it (:func:`test_every_listed_block_exists` keeps the lists honest).

The README's main job (phoneme, adam and rmsprop, three seeds: ~45 s) runs once per session
(:func:`main_job`) and every file's folder starts with a copy of its store, ``results/main``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sybil import Document, Example, Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FILE_BLOCK = re.compile(r"\A# ((?:[\w.-]+/)*[\w.-]+\.py)[ \t]*\n")
MAIN_JOB = ["run", "--tasks", "phoneme", "--optims", "adam,rmsprop", "--out", "results/main"]
BLOCK_TIMEOUT_S = 600

#: (file, text unique to the block) -> why the block is not run
SKIP: dict[tuple[str, str], str] = {
    ("README.md", "bash scripts/setup.sh test && python -m pytest -q"):
        "the set-up commands install the package and run this very test suite: not run recursively",
    ("docs/plugins.md", "pip install ./examples/optbench-example-plugin"):
        "installs and uninstalls a package in the environment the tests themselves run in "
        "(tests/test_plugins.py installs it into a private folder and lists and checks its entries)",
    ("docs/suite.md", "scripts/make_baselines.py"):
        "regenerates the shipped baselines: an hour of training (tests/suite/test_baselines.py replays a slice)",
}
#: (file, text unique to the block): blocks that take more than ~20 s (run all the same, also in CI)
SLOW: set[tuple[str, str]] = {
    ("README.md", "--batch-sizes 16,full --seeds 0-1 --steps 50"),  # 32 trials, run twice (the no-op rerun)
    ("README.md", "optbench predict results/main"),  # the main job (shared), predict, diagnose, a corpus
    ("docs/phoneme.md", "optbench predict results/main"),
    ("README.md", "optbench tune -t"),
    ("docs/scale.md", "optbench tune -t"),
}
#: (file, text unique to the block) -> why it is expected to fail for now
XFAIL: dict[tuple[str, str], str] = {}


@dataclass
class Block:
    doc: str  # path relative to the repository
    example: Example

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.example.line}"

    @property
    def source(self) -> str:
        return str(self.example.parsed)

    def listed(self, table: dict | set) -> str | None:
        for doc, text in table:
            if doc == self.doc and text in self.source:
                return table[doc, text] if isinstance(table, dict) else "listed"
        return None


def run_bash(example: Example) -> str | None:
    """A bash block in the current folder, stopping at its first failing command; its output on failure."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    done = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", str(example.parsed)], env=env, text=True,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=BLOCK_TIMEOUT_S)
    if done.returncode != 0:
        return f"exit {done.returncode}\n--- stdout\n{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}"
    return None


SYBIL = Sybil(parsers=[CodeBlockParser("bash", evaluator=run_bash), PythonCodeBlockParser()])


def _blocks() -> list[Block]:
    blocks = []
    for path in DOCS:
        document: Document = SYBIL.parse(path)
        blocks += [Block(str(path.relative_to(REPO)), e) for e in document.examples()]
    return blocks


BLOCKS = _blocks()


def _marks(block: Block) -> list[pytest.MarkDecorator]:
    marks = []
    if (reason := block.listed(SKIP)) is not None:
        marks.append(pytest.mark.skip(reason=reason))
    if block.listed(SLOW):
        marks.append(pytest.mark.slow)
    if (reason := block.listed(XFAIL)) is not None:
        marks.append(pytest.mark.xfail(reason=reason, strict=True))
    return marks


@pytest.fixture(scope="session")
def main_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's main job's store, made once (one thread: the machine is shared with the other tests)."""
    folder = tmp_path_factory.mktemp("main-job")
    done = subprocess.run([sys.executable, "-m", "optbench", *MAIN_JOB, "--threads", "1"], cwd=folder,
                          capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-4000:]
    return folder / "results" / "main"


@pytest.fixture(scope="session")
def doc_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {}


def _folder(block: Block, folders: dict[str, Path], request: pytest.FixtureRequest) -> Path:
    if block.doc not in folders:
        folder = request.getfixturevalue("tmp_path_factory").mktemp(Path(block.doc).stem)
        if any(b.doc == block.doc and "--tasks phoneme" in b.source for b in BLOCKS):
            shutil.copytree(request.getfixturevalue("main_job"), folder / "results" / "main")
        folders[block.doc] = folder
    return folders[block.doc]


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id, marks=_marks(b)) for b in BLOCKS])
def test_block(block: Block, doc_folders: dict[str, Path], request: pytest.FixtureRequest,
               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _folder(block, doc_folders, request)
    monkeypatch.chdir(folder)
    if block.example.region.evaluator is not run_bash and (named := FILE_BLOCK.match(block.source)):
        target = folder / named.group(1)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(block.source)
        return
    block.example.evaluate()


def test_every_listed_block_exists() -> None:
    for table in (SKIP, SLOW, XFAIL):
        for doc, text in table:
            found = [b for b in BLOCKS if b.doc == doc and text in b.source]
            assert len(found) == 1, f"{doc}: {len(found)} blocks contain {text!r} (the list must name exactly one)"


def test_every_fenced_block_is_collected() -> None:
    """Sybil sees every ```bash and ```python fence (a typo in a fence would silently drop a block)."""
    for path in DOCS:
        fences = re.findall(r"^```(bash|python)[ \t]*$", path.read_text(), re.MULTILINE)
        assert len(fences) == sum(b.doc == str(path.relative_to(REPO)) for b in BLOCKS), path
