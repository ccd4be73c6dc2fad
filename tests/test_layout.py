"""The README's "How the code is organised" tree matches the packages on disk."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tree() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## How the code is organised", 1)[1]
    return section.split("```", 2)[1]


def test_every_subpackage_is_in_the_readme_tree_and_every_listed_folder_exists():
    tree, listed = _tree(), set()
    package = None
    for line in tree.splitlines():
        top = re.match(r"^(\w+)/", line)
        if top:
            package = top.group(1)
            continue
        for name in re.findall(r"^\s+(\w+)/", line):
            listed.add(f"{package}/{name}")
    on_disk = {f"{p.parent.parent.name}/{p.parent.name}"
               for pkg in ("tomopy_dlalign", "cdi_plugins")
               for p in (ROOT / pkg).glob("*/__init__.py")}
    assert listed == on_disk


def test_every_module_the_readme_tree_names_exists():
    tree, package = _tree(), None
    for line in tree.splitlines():
        top = re.match(r"^(\w+)/", line)
        if top:
            package = top.group(1)
            continue
        if package in ("tomopy_dlalign", "cdi_plugins"):
            for module in re.findall(r"(\w+)\.py", line.split(":")[0]):
                assert (ROOT / package / f"{module}.py").exists(), f"{package}/{module}.py"
