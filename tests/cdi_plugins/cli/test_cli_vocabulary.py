"""The defaults the cdi-plugins help shows without importing torch are the library's."""

from cdi_plugins import cnn, phasing
from cdi_plugins.cli import cnn as cnn_cli
from cdi_plugins.cli import convre as convre_cli
from cdi_plugins.cli import phasing as phasing_cli
from cdi_plugins.convre import selection


def test_the_command_line_copies_of_library_defaults_agree_with_the_library():
    assert phasing_cli.DEFAULT_SCHEDULE == phasing.DEFAULT_SCHEDULE
    assert phasing_cli.FREE_FRACTION == phasing.FREE_FRACTION
    assert (convre_cli.RULES, convre_cli.DEFAULT_RULE) == (selection.RULES,
                                                           selection.DEFAULT_RULE)


def test_cnn_train_defaults_are_the_shipped_network():
    import argparse

    sub = argparse.ArgumentParser().add_subparsers()
    cnn_cli.add_commands(sub)
    args = sub.choices["cnn"].parse_args(["train", "d.h5", "-o", "w.safetensors"])
    config = cnn.CNNConfig()
    assert (tuple(args.encoder), tuple(args.decoder)) == (tuple(config.encoder),
                                                          tuple(config.decoder))
