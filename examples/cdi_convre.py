"""ConvRe on a noisy simulated mitochondrion: many OSS runs, keep the consistent cluster.

    python examples/cdi_convre.py [--photons 3e4] [--runs 48] [--out convre_example/]

About two minutes on one CPU core for 48 runs of a 128 x 128 pattern.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np

import cdi_plugins as cdi
from cdi_plugins import metrics
from cdi_plugins.convre import baselines as selection
from cdi_plugins.convre import report as convre_report
from cdi_plugins.simulate import mitochondria


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photons", type=float, default=3e4)
    ap.add_argument("--runs", type=int, default=48)
    ap.add_argument("--out", default="convre_example")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    truth = mitochondria.mitochondrion_object(128, seed=100)
    sim = mitochondria.mitochondrion_pattern(truth, args.photons, background=1.0, seed=0)
    I, mask = sim.intensity, sim.mask

    res = cdi.phase_retrieval(I, mask=mask, algorithm="oss", n_runs=args.runs, seed=0,
                              constraint="positive")
    cl = cdi.convre(res.objects, intensity=I, mask=mask, chi2=res.final_chi2)
    q, w = cdi.prtf(res.objects[cl.selected], I, mask=mask, wiener=True)
    q_all, w_all = cdi.prtf(res.objects, I, mask=mask, wiener=True, reference=res.best)
    pixel_nm = mitochondria.paper_pixel_nm(I.shape[0])   # 5.5 keV, 1.496 m, 60 um pixels

    logging.info("clusters: %s; kept %d of %d runs", [s.size for s in cl.scores],
                 cl.selected.size, args.runs)
    logging.info("wPRTF resolution, all runs: %s", cdi.resolution(q_all, w_all,
                                                                  pixel_size=pixel_nm))
    logging.info("wPRTF resolution, ConvRe:   %s", cdi.resolution(q, w, pixel_size=pixel_nm))
    all_mean = selection.mean_of_all(res.objects, res.final_chi2).average
    logging.info("real-space error vs truth: mean of all %.3f, ConvRe %.3f",
                 metrics.real_space_error(all_mean, truth),
                 metrics.real_space_error(cl.average, truth))
    files = convre_report.save_convre_report(cl, res.objects, I, mask, args.out, pixel_nm)
    logging.info("figures: %s", sorted(str(f) for f in files.values()))
    np.save(f"{args.out}/convre_average.npy", cl.average)


if __name__ == "__main__":
    main()
