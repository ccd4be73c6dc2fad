"""CDI in a few lines: simulate a weakly scattering object, phase it with 16 OSS runs,
and measure the resolution with the Wiener-weighted PRTF.

Run: python examples/cdi_phase_retrieval.py  (about 15 s on 2 CPU cores)
"""

import logging
from pathlib import Path

import cdi_plugins as cdi
from cdi_plugins import io, metrics, simulate
from cdi_plugins.phasing import report

logging.basicConfig(level=logging.INFO)
out = Path("cdi_example")
out.mkdir(exist_ok=True)

# 1. a measured-like pattern: 1e8 photons, Poisson noise, a beamstop, saved as CXI
obj = simulate.biological_object(128, seed=0)
sim = simulate.simulate_pattern(obj, photons=1e8, beamstop=1.5, seed=0)
geometry = io.Geometry(wavelength=1.5498e-10, distance=5.0, pixel_size=75e-6)  # 8 keV
io.write_cxi(out / "pattern.cxi", sim.intensity, sim.mask, geometry, step="simulate")

# 2. read it back and phase it (mask True = missing pixels)
I, mask = io.read_cxi(out / "pattern.cxi")
res = cdi.phase_retrieval(I, mask=mask, algorithm="oss", n_iter=500, n_runs=16, seed=0,
                          constraint="positive")

# 3. quality: wPRTF resolution (1/e), error against the known truth
q, curve = cdi.prtf(res.objects, I, mask=mask, wiener=True)
pixel_nm = geometry.real_space_pixel(I.shape[0]) * 1e9
print("resolution:", cdi.resolution(q, curve, pixel_size=pixel_nm))
print("real-space error of the best run:",
      round(metrics.real_space_error(res.best_object, sim.object), 3))

# 4. save the result beside the data and the figures
io.write_result(out / "result.h5", res, I, mask, geometry,
                history=out / "pattern.cxi")   # /process: simulate -> phase
report.save_report(res, I, mask, out / "report", geometry)
