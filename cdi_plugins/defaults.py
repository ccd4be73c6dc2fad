"""Defaults that the library and the command line share, in a module that imports
nothing: the ``--help`` of ``cdi-plugins`` shows them without loading torch."""

#: the default phasing schedule: 200 HIO, 20 x (40 HIO + 5 ER, then a support update),
#: 100 ER
DEFAULT_SCHEDULE = "HIO**200 * (HIO**40 * ER**5)**20 * ER**100"
#: share of the pixels withheld from the modulus constraint for the free log-likelihood
FREE_FRACTION = 0.05
#: the rules :func:`cdi_plugins.convre.selection.select_cluster` knows
RULES = ("best-run", "mean-chi2")
#: the rule ``select_cluster``, :func:`cdi_plugins.convre.convre` and
#: ``cdi-plugins cluster`` use by default
DEFAULT_RULE = "best-run"
