"""Score the shipped complex CNN against the targets of the issue, in one run.

Figures (chi^2 of modulus, amplitude and phase on held-out patterns, CNN vs
nearest-neighbour search; CNN and NNS time per pattern; the four initialisations of the
refinement) go to ``benchmarks/cnn_results.json`` and the PNG report to
``benchmarks/cnn_report/``. The data come from ``cdi-plugins cnn make-dataset`` (see
``benchmarks/RESULTS_cnn.md`` for the exact commands)::

    OMP_NUM_THREADS=1 python benchmarks/cnn_eval.py --train /tmp/cnn/train.h5 \\
        --test /tmp/cnn/test.h5 --refine 50 --starts 4
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import torch

from cdi_plugins import cnn, cnn_eval
from cdi_plugins import superellipsoid as se

logger = logging.getLogger("benchmarks.cnn_eval")
HERE = Path(__file__).parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", required=True, help="training set (NNS references)")
    p.add_argument("--n-train", type=int, default=None,
                   help="NNS references: the first N training patterns (default: the "
                        "number the model card says were used)")
    p.add_argument("--test", required=True, help="held-out test set")
    p.add_argument("--n", type=int, default=None, help="test patterns (default all)")
    p.add_argument("--refine", type=int, default=50, help="patterns for the refinement")
    p.add_argument("--starts", type=int, default=4, help="random starts per pattern")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(HERE / "cnn_results.json"))
    p.add_argument("--report", default=str(HERE / "cnn_report"))
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    net = cnn.load_model()
    card = net.card
    n_ref = args.n_train or card["data"]["n_train"] + card["data"]["n_validation"]
    # the NNS searches exactly the patterns the network was trained on
    res = cnn_eval.evaluate(args.test, model=net, train=args.train, n=args.n,
                            report=args.report, output=None, n_refine=args.refine,
                            n_starts=args.starts, seed=0, n_train=n_ref)
    # inference time with both cores, for comparison with the 1-thread figure
    test = se.read_dataset(args.test, args.n)
    torch.set_num_threads(2)
    res["timing_2_threads"] = cnn_eval.time_cnn(net, test["intensity"])
    torch.set_num_threads(args.threads)
    res["targets"] = {
        "chi2_modulus <= 0.019": res["cnn"]["chi2_modulus"]["mean"] <= 0.019,
        "chi2_amplitude <= 0.005": res["cnn"]["chi2_amplitude"]["mean"] <= 0.005,
        "chi2_phase <= 0.029": res["cnn"]["chi2_phase"]["mean"] <= 0.029,
        "NNS worse than CNN (modulus)":
            res["nns"]["chi2_modulus"]["mean"] > res["cnn"]["chi2_modulus"]["mean"],
        "batched <= 0.5 ms/pattern": res["timing"]["batched_ms"] <= 0.5,
        "CNN-seeded below random start on >= 80%":
            res.get("refinement", {}).get("cnn_below_random_mean", 0) >= 0.8,
    }
    Path(args.out).write_text(json.dumps(res, indent=2, default=_json))
    logger.info("targets: %s", json.dumps(res["targets"], indent=1))
    return 0


def _json(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.generic,)):
        return v.item()
    return str(v)


if __name__ == "__main__":
    raise SystemExit(main())
