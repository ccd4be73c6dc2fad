"""A TomoPy-style jitter-correction script: read, normalise, align, reconstruct, write.

Run it on the demo's file (``tomopy-dlalign demo`` writes demo_out/scan.h5)::

    python examples/tomopy_style_align.py demo_out/scan.h5 demo_out/aligned_example.h5

The alignment line is the only one that differs from a TomoPy script using
``tomopy.align_joint``; the shifts come back in TomoPy's senses, so
``compat.shift_images(other_stack, sx, sy)`` applies them to another stack.
"""

import logging
import sys

import numpy as np

import tomopy_dlalign as tda

logging.basicConfig(level=logging.INFO)
src = sys.argv[1] if len(sys.argv) > 1 else "demo_out/scan.h5"
dst = sys.argv[2] if len(sys.argv) > 2 else "demo_out/aligned_example.h5"

prj, flat, dark, theta = tda.io.read_dx(src)          # theta in radians
prj = tda.normalize(prj, flat, dark)
prj = tda.minus_log(prj)
prj, sx, sy, conv = tda.compat.align_joint(prj, theta)  # was: tomopy.align_joint(...)
rec = tda.fbp(prj, theta)                             # or tomopy.recon(..., "gridrec")
print(f"largest correction {np.abs(np.concatenate([sx, sy])).max():.1f} px; "
      f"update norms per cycle {np.round(conv, 2)}")
tda.io.write_dx(dst, prj, theta=theta, data_units="1/pixel", template=src,
                extras={"shift_x": (sy, "pixel"), "shift_y": (sx, "pixel"),
                        "reconstruction": (rec, "1/pixel")},
                parameters={"script": "tomopy_style_align.py"},
                state="aligned", step="align")        # what the file now holds (/process)
print(f"wrote {dst}")
