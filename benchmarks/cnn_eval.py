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
import time
from pathlib import Path

import numpy as np
import torch

from cdi_plugins import cnn
from cdi_plugins.cnn import evaluate as cnn_eval
from cdi_plugins.simulate import superellipsoid as se
from tomopy_dlalign.common.h5files import jsonable

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
    # inference time with both cores (the target's "this CPU"), and with one
    test = se.read_dataset(args.test, args.n)
    torch.set_num_threads(2)
    res["timing_2_threads"] = cnn_eval.time_cnn(net, test["intensity"])
    res["speed_table"] = speed_table(net, test["intensity"])
    torch.set_num_threads(args.threads)
    res["targets"] = {
        "chi2_modulus <= 0.019": res["cnn"]["chi2_modulus"]["mean"] <= 0.019,
        "chi2_amplitude <= 0.005": res["cnn"]["chi2_amplitude"]["mean"] <= 0.005,
        "chi2_phase <= 0.029": res["cnn"]["chi2_phase"]["mean"] <= 0.029,
        "NNS worse than CNN (modulus)":
            res["nns"]["chi2_modulus"]["mean"] > res["cnn"]["chi2_modulus"]["mean"],
        # "on this CPU": both of its cores
        "batched <= 0.5 ms/pattern": res["timing_2_threads"]["batched_ms"] <= 0.5,
        "CNN-seeded below random start on >= 80%":
            res.get("refinement", {}).get("cnn_below_random_mean", 0) >= 0.8,
    }
    Path(args.out).write_text(json.dumps(res, indent=2, default=jsonable))
    logger.info("targets: %s", json.dumps(res["targets"], indent=1))
    return 0


def speed_table(net, intensity: np.ndarray, batches=(16, 32, 64, 256), n: int = 1024) -> list:
    """ms per pattern of the network alone (best of 3 passes over ``n`` patterns), per
    thread count, batch size and memory layout: the default (contiguous) layout against
    the channels-last one that :func:`cdi_plugins.cnn.model.forward_batches` uses."""
    import copy

    from cdi_plugins.cnn.model import normalize_pattern

    x = normalize_pattern(torch.from_numpy(intensity[:n]))
    layouts = {"contiguous": (copy.deepcopy(net).eval().to(memory_format=torch.contiguous_format),
                              torch.contiguous_format),
               "channels_last": (copy.deepcopy(net).eval().to(memory_format=torch.channels_last),
                                 torch.channels_last)}
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for bs in batches:
            row = {"threads": threads, "batch": bs}
            for name, (model, fmt) in layouts.items():
                xs = [x[lo:lo + bs].contiguous(memory_format=fmt) for lo in range(0, n, bs)]
                best = np.inf
                with torch.inference_mode():
                    model(xs[0])
                    for _ in range(3):
                        t = time.perf_counter()
                        for xi in xs:
                            model(xi)
                        best = min(best, (time.perf_counter() - t) / n)
                row[f"{name}_ms"] = 1e3 * best
            rows.append(row)
            logger.info("speed: %s", row)
    return rows



if __name__ == "__main__":
    raise SystemExit(main())
