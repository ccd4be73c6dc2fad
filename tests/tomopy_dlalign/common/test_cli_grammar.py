"""One grammar for both command lines: every option explained, defaults shown, the same
verbs and the same common options (tomopy_dlalign.common.cli)."""

import argparse
import logging
import re

import pytest

import cdi_plugins.cli as cdi_cli
from tomopy_dlalign import cli as tda_cli
from tomopy_dlalign.common.cli import add_common_options


def parser(module) -> argparse.ArgumentParser:
    p = module.build_parser()
    add_common_options(p)
    return p


PARSERS = {"tomopy-dlalign": tda_cli, "cdi-plugins": cdi_cli}


def commands(p: argparse.ArgumentParser, path=()):
    """``(path, parser, hidden)`` for every command and subcommand of ``p`` (an alias, as
    ``list`` of ``plugins``, is shown beside its command: ``plugins (list)``)."""
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            # each shown line's metavar: the command, and its aliases in brackets
            shown = {name for c in action._choices_actions
                     for name in re.findall(r"[\w-]+", c.metavar or c.dest)}
            for name, sub in action.choices.items():
                yield (*path, name), sub, name not in shown
                yield from commands(sub, (*path, name))


def options(p: argparse.ArgumentParser) -> set[str]:
    return {s for a in p._actions for s in a.option_strings}


def command(prog: str, *path: str) -> argparse.ArgumentParser:
    return {c: sub for c, sub, _ in commands(parser(PARSERS[prog]))}[path]


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_every_argument_of_every_command_has_a_help_string(prog):
    missing = []
    for path, sub, _ in [((), parser(PARSERS[prog]), False), *commands(parser(PARSERS[prog]))]:
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            # a hidden option is only an older spelling of a shown one (the same dest)
            shown = {a.dest for a in sub._actions if a.help is not argparse.SUPPRESS}
            if (not action.help
                    or (action.help is argparse.SUPPRESS and action.dest not in shown)):
                missing.append(f"{' '.join(path)} {action.option_strings or action.dest}")
    assert not missing, missing


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_help_shows_defaults_and_no_raw_markup_or_development_notes(prog):
    texts = [parser(PARSERS[prog]).format_help()]
    texts += [sub.format_help() for _, sub, _ in commands(parser(PARSERS[prog]))]
    for text in texts:
        assert "``" not in text and ":mod:" not in text and ":func:" not in text, text
        assert "machine is shared" not in text and "==SUPPRESS==" not in text, text
        assert "(default: None)" not in text
    shown = "\n".join(texts)
    assert "(default: " in shown


def test_defaults_appear_in_the_help_of_both_tools():
    assert "iterations of MLEM (default: 20)" in " ".join(command("tomopy-dlalign", "recon")
                                                          .format_help().split())
    assert "independent random starts (default: 16)" in " ".join(
        command("cdi-plugins", "phase").format_help().split())


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_the_top_help_lists_exactly_the_visible_commands(prog):
    top = parser(PARSERS[prog])
    text = top.format_help()
    visible = [path[0] for path, _, hidden in commands(top) if len(path) == 1 and not hidden]
    hidden = [path[0] for path, _, hidden in commands(top) if len(path) == 1 and hidden]
    aliases = {"list": "plugins"}
    usage_list = "{" + ",".join(v for v in dict.fromkeys(visible) if v not in aliases) + "}"
    assert usage_list in text
    for name in visible:
        line = f"\n    {aliases[name]} ({name}) " if name in aliases else f"\n    {name} "
        assert line in text, name
    for name in hidden:
        assert f"\n    {name} " not in text
    assert hidden == []


# the common options, on every command where they apply, in both tools
SHARED = {
    "-o": [("tomopy-dlalign", c) for c in ("demo", "simulate", "align", "recon", "train",
                                           "adapt", "make-dataset")]
          + [("cdi-plugins", c) for c in ("demo", "simulate", "phase", "prepare", "cluster",
                                          "train-features", "cnn make-dataset", "cnn train",
                                          "cnn predict")],
    "--seed": [("tomopy-dlalign", c) for c in ("demo", "simulate", "train", "adapt",
                                               "make-dataset")]
              + [("cdi-plugins", c) for c in ("demo", "simulate", "phase", "cluster",
                                              "train-features", "cnn make-dataset",
                                              "cnn train", "cnn evaluate", "cnn predict")],
    "--device": [("tomopy-dlalign", c) for c in ("demo", "align", "recon", "train", "adapt")]
                + [("cdi-plugins", c) for c in ("demo", "phase", "cnn train", "cnn predict")],
    "--report": [("tomopy-dlalign", "align")]
                + [("cdi-plugins", c) for c in ("phase", "prepare", "cluster", "cnn evaluate",
                                                "cnn predict")],
}


@pytest.mark.parametrize("option", sorted(SHARED))
def test_both_tools_take_the_common_options_where_they_apply(option):
    for prog, name in SHARED[option]:
        assert option in options(command(prog, *name.split())), (prog, name, option)


@pytest.mark.parametrize("prog", sorted(PARSERS))
def test_progress_debug_and_overwrite_are_on_every_command(prog):
    for path, sub, _ in commands(parser(PARSERS[prog])):
        assert {"--progress", "--no-progress", "--debug", "--overwrite"} <= options(sub), path


def test_both_tools_share_their_verbs():
    verbs = {prog: {path[0] for path, _, hidden in commands(parser(m)) if not hidden}
             for prog, m in PARSERS.items()}
    assert {"simulate", "demo", "plugins"} <= verbs["tomopy-dlalign"] & verbs["cdi-plugins"]


def test_the_same_words_parse_to_the_same_settings_in_both_tools():
    tda = parser(tda_cli).parse_args(["simulate", "-o", "s.h5", "--seed", "3", "--no-progress"])
    cdi = parser(cdi_cli).parse_args(["simulate", "-o", "p.cxi", "--seed", "3", "--no-progress"])
    for args, out in ((tda, "s.h5"), (cdi, "p.cxi")):
        assert (args.output, args.seed, args.progress) == (out, 3, False)
    for module in PARSERS.values():
        args = parser(module).parse_args(["--progress", "demo", "--out", "d"])
        assert (args.output, args.progress) == ("d", True)
        assert parser(module).parse_args(["demo", "-o", "d"]).output == "d"
        assert parser(module).parse_args(["demo"]).progress is None


def test_the_old_positional_output_still_works_with_a_warning(tmp_path, caplog):
    out = tmp_path / "scan.h5"
    with caplog.at_level(logging.WARNING):
        assert tda_cli.main(["simulate", str(out), "--size", "16", "--nslice", "2",
                             "--nproj", "8"]) == 0
    assert out.exists() and "positional output is deprecated; use -o" in caplog.text


def test_an_output_given_twice_or_not_at_all_is_one_error_line(tmp_path, capsys):
    assert tda_cli.main(["simulate", str(tmp_path / "a.h5"), "-o", str(tmp_path / "b.h5")]) == 2
    assert "give the output once" in capsys.readouterr().err
    assert tda_cli.main(["simulate", "--size", "16"]) == 2
    assert "needs an output file: -o/--output" in capsys.readouterr().err


def test_cdi_list_is_an_older_alias_of_plugins_shown_beside_it(capsys, caplog):
    assert cdi_cli.main(["plugins"]) == 0
    listing = capsys.readouterr().out
    with caplog.at_level(logging.WARNING):
        assert cdi_cli.main(["list"]) == 0
    assert capsys.readouterr().out == listing and "oss" in listing
    assert "deprecated; use cdi-plugins plugins" in caplog.text


def test_no_progress_hides_the_bars_of_a_command(tmp_path, capsys):
    from tomopy_dlalign.common.progress import progress_enabled, showing_progress

    with showing_progress(True):
        assert progress_enabled() and not progress_enabled(False)
    with showing_progress(False):
        assert not progress_enabled()
    scan = tmp_path / "s.h5"
    assert tda_cli.main(["simulate", "-o", str(scan), "--size", "16", "--nslice", "2",
                         "--nproj", "12"]) == 0
    capsys.readouterr()
    assert tda_cli.main(["recon", str(scan), "-o", str(tmp_path / "r.h5"), "--iters", "3",
                         "--progress"]) == 0
    assert "mlem" in capsys.readouterr().err
    assert tda_cli.main(["--no-progress", "recon", str(scan), "-o", str(tmp_path / "r2.h5"),
                         "--iters", "3"]) == 0
    assert "mlem" not in capsys.readouterr().err
