"""One vocabulary for both command lines: an option name means one thing in every
command of both tools (--jitter: pixels of the scan written; --iters: iterations), every
command is listed and described, and every default the help shows is the value the
parser gives."""

from __future__ import annotations

import argparse
import re
from collections import defaultdict

import pytest

import cdi_plugins.cli as cdi_cli
from tomopy_dlalign import cli as tda_cli
from tomopy_dlalign.common.cli import add_common_options

TOOLS = {"tomopy-dlalign": tda_cli, "cdi-plugins": cdi_cli}


def parser(prog: str) -> argparse.ArgumentParser:
    p = TOOLS[prog].build_parser()
    add_common_options(p)
    return p


def commands(p: argparse.ArgumentParser, path=()):
    """``(path, parser, help line)`` of every command and subcommand (aliases included)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            lines = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                main_name = next(n for n, s in action.choices.items() if s is sub)
                yield (*path, name), sub, lines.get(main_name)
                yield from commands(sub, (*path, name))


def every_option():
    """``(prog, command path, action)`` of every option of every command of both tools."""
    for prog in TOOLS:
        for path, sub, _ in commands(parser(prog)):
            for action in sub._actions:
                if action.option_strings and not isinstance(action, argparse._HelpAction):
                    yield prog, path, action


def meaning(action: argparse.Action) -> tuple[str, str]:
    """What an option sets: its destination, and a flag or the kind of value it reads
    (a word read as None, as ``--cluster none``, reads the kind behind it)."""
    if action.nargs == 0:
        return action.dest, "flag"
    kind = getattr(action.type, "convert", action.type)
    return action.dest, getattr(kind, "__name__", "str")


def test_no_option_name_has_two_meanings_across_the_commands_of_both_tools():
    seen = defaultdict(lambda: defaultdict(list))
    for prog, path, action in every_option():
        for name in action.option_strings:
            seen[name][meaning(action)].append(f"{prog} {' '.join(path)}")
    twice = {name: dict(m) for name, m in seen.items() if len(m) > 1}
    assert not twice, twice


def test_jitter_is_the_largest_jitter_in_pixels_of_the_scan_written_in_every_command():
    found = {" ".join(path): a for _, path, a in every_option() if "--jitter" in a.option_strings}
    assert set(found) == {"simulate", "demo", "make-dataset"}
    assert len({a.help for a in found.values()}) == 1
    assert "in pixels of the scan written" in next(iter(found.values())).help
    # demo's default is the jitter it drew at its default size before (20 px per 256)
    args = parser("tomopy-dlalign").parse_args(["demo"])
    assert args.jitter == 20 * args.size / 256


def test_iters_counts_iterations_everywhere_and_iter_is_only_its_hidden_older_spelling():
    iters = [(prog, path, a) for prog, path, a in every_option() if "--iters" in a.option_strings]
    assert {(prog, " ".join(path)) for prog, path, _ in iters} >= {
        ("tomopy-dlalign", "align"), ("tomopy-dlalign", "recon"), ("cdi-plugins", "phase"),
        ("cdi-plugins", "cnn evaluate"), ("cdi-plugins", "train-features")}
    for prog, path, action in iters:
        assert action.help.startswith("iterations of "), (prog, path, action.help)
    for prog, path, action in every_option():
        if "--iter" in action.option_strings:
            assert action.help is argparse.SUPPRESS and action.dest == "iters", (prog, path)
    cdi = parser("cdi-plugins")
    for argv in (["phase", "p.cxi"], ["cnn", "evaluate", "t.h5"], ["train-features", "-o", "w"]):
        assert (cdi.parse_args([*argv, "--iter", "7"]).iters
                == cdi.parse_args([*argv, "--iters", "7"]).iters == 7)


@pytest.mark.parametrize("prog", sorted(TOOLS))
def test_every_command_is_listed_with_a_help_line_and_described(prog):
    top = parser(prog)
    text = " ".join(top.format_help().split())
    for path, sub, line in commands(top):
        assert line and line is not argparse.SUPPRESS, path
        assert sub.description and len(sub.description) > 40, path
        if len(path) == 1:
            assert f" {path[0]} " in text or f"({path[0]})" in text, path


def test_the_cdi_plugins_list_of_the_docs_is_in_the_help():
    assert "plugins (list)" in parser("cdi-plugins").format_help()


# "the default schedule" names a schedule; any other "default" in a help text is one
# written by hand
HAND_WRITTEN = re.compile(r"\bdefault\b(?! schedule)", re.IGNORECASE)


def test_every_default_the_help_shows_is_the_value_the_parser_gives():
    for prog in TOOLS:
        for path, sub, _ in commands(parser(prog)):
            text = " ".join(sub.format_help().split())
            for action in sub._actions:
                default = action.default
                if (not action.option_strings or action.help is argparse.SUPPRESS
                        or isinstance(action, argparse._HelpAction)
                        or default in (None, False, argparse.SUPPRESS)):
                    continue
                # a default that is a value is shown once, as that value
                assert not HAND_WRITTEN.search(action.help.replace("%(default)s", "")), (
                    prog, path, action.option_strings, action.help)
                shown = " ".join(map(str, default)) if isinstance(default, list) else default
                assert f"(default: {shown})" in text, (prog, path, action.option_strings)
