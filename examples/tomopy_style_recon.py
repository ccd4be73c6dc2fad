"""A TomoPy-style script: read, normalise, reconstruct, reproject, write.

Run it on the demo's file (``tomopy-dlalign demo`` writes demo_out/scan.h5)::

    python examples/tomopy_style_recon.py demo_out/scan.h5 demo_out/rec_example.h5

Every call has TomoPy's name, argument order and array conventions, so the
``tda.`` calls can be swapped with ``tomopy.`` ones line by line.
"""

import logging
import sys

import numpy as np

import tomopy_dlalign as tda

logging.basicConfig(level=logging.INFO)
src = sys.argv[1] if len(sys.argv) > 1 else "demo_out/scan.h5"
dst = sys.argv[2] if len(sys.argv) > 2 else "demo_out/rec_example.h5"

prj, flat, dark, theta = tda.io.read_dx(src)          # theta in radians
prj = tda.normalize(prj, flat, dark)
prj = tda.minus_log(prj)
rec = tda.mlem(prj, theta, num_iter=20)               # (nslice, ncol, ncol)
sim = tda.reproject(rec, theta)                       # (nproj, nslice, ncol)
rec_fbp = tda.fbp(prj, theta, filter_name="shepp")
misfit = np.linalg.norm(sim - prj) / np.linalg.norm(prj)
print(f"MLEM data misfit {misfit:.3f}; FBP and MLEM differ by "
      f"{np.linalg.norm(rec_fbp - rec) / np.linalg.norm(rec):.3f}")
tda.io.write_dx(dst, rec, data_units="1/pixel",
                parameters={"script": "tomopy_style_recon.py", "num_iter": 20})
print(f"wrote {dst}")
