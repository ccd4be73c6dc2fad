"""The documentation runs as written: every fenced ```python and ```bash block of README.md
and docs/*.md is executed, each in a fresh temporary folder.

Rules the docs follow (and this runner enforces):

- a block is self-contained: it makes or reads the data it uses (the repository's
  ``examples``, ``tests`` and ``benchmarks`` folders are linked into the folder, so a block
  may read ``tests/data/...`` as from the repository root);
- ```python blocks are written to a file and run as a script with this interpreter (so a
  block that starts a Dask ``LocalCluster`` works when, as a script must, it does so under
  ``if __name__ == "__main__":``: the workers are spawned and import the script again);
  ```bash blocks run with ``bash -euo pipefail`` and
  this environment's console scripts (``tomopy-dlalign``, ``cdi-plugins``) first on PATH;
  ``pip install ...`` commands are skipped (the package is installed already), and so is
  ``python -m pytest ...`` (this suite is what runs the docs);
- a block preceded by ``<!-- slow -->`` runs only under ``pytest -m slow``, and one
  preceded by ``<!-- long -->`` (10 s or more) under ``pytest -m "not slow"``, as CI runs
  the suite, not in the default run;
- a block that is not meant to run (output, a layout, a file's content, a recipe too long for
  a test) uses another fence language (```text, ```toml); a bare ``` fence is an error in
  the documents listed in ``LABELLED``.

``KNOWN_FAILING`` lists blocks that do not run yet, with the reason; they are collected
and reported as expected failures without being run. Remove an entry once its block is
fixed.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUNNERS = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash"}
LINKED = ()
#: documents whose every fence must name its language
LABELLED = ("README.md", "docs/readers.md", "docs/robustness.md", "docs/cdi.md",
            "docs/threads.md",
            "docs/cnn.md", "docs/convre.md", "docs/scale.md")
TIMEOUT, SLOW_TIMEOUT = 600, 3600
SKIPPED_COMMANDS = (("pip", "install"), ("python", "-m", "pytest"))

#: (document, first line of the block): why it does not run yet (none at present)
KNOWN_FAILING: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    slow: bool
    long: bool = False

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def fences(path: Path) -> list[tuple[int, str, str, str]]:
    """``(line of the opening fence, language, code, the marker comment before it)``."""
    lines = path.read_text().splitlines()
    found, i = [], 0
    while i < len(lines):
        m = re.match(r"^```(\S*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        start, lang = i, m.group(1).lower()
        i += 1
        while i < len(lines) and lines[i].rstrip() != "```":
            i += 1
        before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
        found.append((start + 1, lang, "\n".join(lines[start + 1:i]) + "\n", before))
        i += 1
    return found


def collect() -> list[Block]:
    blocks = []
    for path in DOCS:
        doc = str(path.relative_to(ROOT))
        for line, lang, code, before in fences(path):
            if lang in RUNNERS:
                blocks.append(Block(doc, line, RUNNERS[lang], code,
                                    slow=before == "<!-- slow -->",
                                    long=before == "<!-- long -->"))
    return blocks


def _first_line(block: Block) -> str:
    return next(ln.strip() for ln in block.code.splitlines() if ln.strip())


def params():
    out = []
    for block in collect():
        marks = [pytest.mark.slow] if block.slow else []
        marks += [pytest.mark.long] if block.long else []
        reason = KNOWN_FAILING.get((block.doc, _first_line(block)))
        if reason:
            marks.append(pytest.mark.xfail(reason=reason, run=False))
        out.append(pytest.param(block, id=block.id, marks=marks))
    return out


def shell_script(code: str) -> str:
    """The block's commands, without those the runner skips (``pip install``, the test
    suite itself), as a script that stops at the first failure."""
    logical, current = [], ""
    for line in code.splitlines():
        if line.rstrip().endswith("\\"):
            current += line.rstrip()[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    kept = []
    for line in logical:
        parts = [p.strip() for p in line.split("&&")]
        parts = [p for p in parts if not any(shlex.split(p, comments=True)[:len(words)]
                                             == list(words) for words in SKIPPED_COMMANDS)]
        if any(shlex.split(p, comments=True) for p in parts):
            kept.append(" && ".join(parts))
    return "set -euo pipefail\n" + "\n".join(kept) + "\n"


def run_block(block: Block, folder: Path) -> subprocess.CompletedProcess:
    for name in LINKED:
        (folder / name).symlink_to(ROOT / name, target_is_directory=True)
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1",
               PATH=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if block.lang == "python":
        script = folder / "doc_block.py"
        script.write_text(block.code)
        argv = [sys.executable, script.name]
    else:
        script = folder / "doc_block.sh"
        script.write_text(shell_script(block.code))
        argv = ["bash", script.name]
    return subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True,
                          timeout=SLOW_TIMEOUT if block.slow else TIMEOUT)


@pytest.mark.parametrize("block", params())
def test_documented_block_runs_as_written(block, tmp_path):
    result = run_block(block, tmp_path)
    if result.returncode != 0:
        numbered = "\n".join(f"{block.line + 1 + k:5d}  {ln}"
                             for k, ln in enumerate(block.code.splitlines()))
        pytest.fail(f"{block.id} ({block.lang}) exited {result.returncode}\n{numbered}\n"
                    f"--- stdout ---\n{result.stdout[-3000:]}\n"
                    f"--- stderr ---\n{result.stderr[-5000:]}", pytrace=False)


# --- the runner itself, and what the docs promise about their blocks ----------------------

def test_the_runner_finds_the_blocks_and_their_marks():
    blocks = collect()
    assert {b.doc for b in blocks} >= {"README.md", "docs/readers.md"}
    assert any(b.slow for b in blocks) and any(not b.slow for b in blocks)
    assert {b.lang for b in blocks} == {"python", "bash"}
    assert shell_script('pip install -e ".[dev]" && python -m pytest\n') == "set -euo pipefail\n\n"
    script = shell_script("pip install x && tomopy-dlalign demo \\\n  --size 64\n")
    assert script.splitlines()[1].split() == ["tomopy-dlalign", "demo", "--size", "64"]


def test_every_known_failure_names_a_block_that_exists():
    present = {(b.doc, _first_line(b)) for b in collect()}
    assert set(KNOWN_FAILING) <= present


@pytest.mark.parametrize("doc", LABELLED)
def test_every_fence_names_its_language(doc):
    bare = [line for line, lang, _, _ in fences(ROOT / doc) if not lang]
    assert not bare, f"{doc}: fences without a language at lines {bare} (use ```text)"


def test_the_training_recipe_in_the_readme_is_the_one_the_model_card_records():
    card = json.loads((ROOT / "tomopy_dlalign/weights/jitternet.json").read_text())
    readme = (ROOT / "README.md").read_text()
    recipe = readme.split("<!-- recipe: tomopy_dlalign/weights/jitternet.json -->", 1)[1]
    recipe = recipe.split("```text", 1)[1].split("```", 1)[0]
    lines = [" ".join(ln.split("#")[0].split()) for ln in recipe.splitlines() if ln.strip()]
    made = card["note"].split("Training data made with:", 1)[1].split(". ", 1)[0]
    data = [cmd.strip().rstrip(".") for cmd in made.split(";")]
    expected = [cmd.replace("make-dataset ", "make-dataset -o ", 1) for cmd in data]
    train = re.sub(r"\S*/(train\d+\.h5)", r"\1", card["command"])
    train = re.sub(r"-o \S*/", "-o ", train)
    assert lines == [*expected, train]


def test_the_tomography_figures_the_readme_quotes_are_the_codes():
    """The numbers the README states about the demo and the alignment, read from the code
    they describe (benchmark figures live in benchmarks/RESULTS.md, written by the
    benchmarks)."""
    from tomopy_dlalign import cli
    from tomopy_dlalign.common.cli import add_common_options
    from tomopy_dlalign.models.jitternet import JitterNetConfig
    from tomopy_dlalign.prep import alignment

    text = " ".join((ROOT / "README.md").read_text().split())
    parser = cli.build_parser()
    add_common_options(parser)
    demo = parser.parse_args(["demo"])
    assert "a battery-like particle" in text and demo.family == "battery"
    assert f"+-{demo.jitter:g} px of random jitter" in text
    assert f"{alignment.MLEM_ITERS} MLEM iterations, reprojection" in text
    assert {2: "two"}[alignment.POLISH_ROUNDS] + " sub-pixel phase-correlation rounds" in text
    assert f"`polish_size={alignment.POLISH_SIZE}` px" in text
    size = JitterNetConfig().size
    card = json.loads((ROOT / "tomopy_dlalign/weights/jitternet.json").read_text())
    assert card["architecture"]["size"] == size
    assert f"the network's input ({size} x {size})" in text
    tour = parser.parse_args(["simulate", "-o", "s.h5", "--nslice", "32"])
    assert f"with fewer than {size // 2} detector rows `align` corrects the horizontal" in text
    assert tour.nslice >= size // 2  # the tour's scan is aligned along both axes
