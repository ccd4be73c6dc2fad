"""A low-resolution start: each random start is first phased against the pattern seen
through a Gaussian low-pass, then the schedule runs on the whole pattern from there.

On a measured pattern a third of the default schedule's runs can stagnate: the object
is found, but crossed by phase vortices and walls that hold a support of twice the
object's size. Phasing the low frequencies first, where the counts are high and the
speckles few, gives every run the object's outline before the fine detail can tie knots
in its phase. On PyNX's ESRF-logo pattern with PyNX's loose support, over 48 runs (three
seeds), 8 runs stagnated with this start against 15 without, and 36 against 25 lay within
0.1 of the best run; on the simulated pattern without a support 13 of 16 runs found the
object against 8 (benchmarks/RESULTS_cdi.md). cohere-core's ``lowpass_filter`` and the
low-resolution generations of its genetic algorithm follow the same idea.

The window weights the intensity by ``exp(-((qy / (width H))^2 + (qx / (width W))^2))``
(an amplitude Gaussian of width ``width`` times the array size, ``q`` in pixels from the
zero frequency; a 3D pattern adds ``(qz / (width D))^2``); missing and free pixels
stay missing and free. The starting support, the support updates and the real-space
constraint are those of the main phasing; the supports the low-resolution stage ends
with are dropped, its objects are the starts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: the default low-resolution stage's schedule
LOWRES_SCHEDULE = "HIO**300 * ER**20"


@dataclass(frozen=True)
class LowResolution:
    """Settings of the low-resolution start.

    Parameters
    ----------
    width : float
        Width of the amplitude Gaussian as a fraction of the array size, in (0, 1].
    schedule : str
        The schedule phased on the low-passed pattern (shrink-wrap as in the main one).

    Example
    -------
    >>> w = LowResolution(width=0.25).window((8, 8))
    >>> float(w[4, 4]), round(float(w[4, 6]), 4)
    (1.0, 0.3679)
    """

    width: float = 0.125
    schedule: str = LOWRES_SCHEDULE

    def __post_init__(self) -> None:
        if not 0 < self.width <= 1:
            raise ValueError(f"low_resolution width must be in (0, 1], got {self.width}")

    def window(self, shape: tuple[int, ...]) -> np.ndarray:
        """The intensity weights of ``shape`` (2D or 3D), 1 at the zero frequency (the
        centre)."""
        q2 = 0.0
        for axis, n in enumerate(shape):
            q = (np.arange(n) - n // 2) / (self.width * n)
            q2 = q2 + q.reshape([-1 if a == axis else 1 for a in range(len(shape))]) ** 2
        return np.exp(-q2).astype(np.float32)

    def pattern(self, intensity: np.ndarray) -> np.ndarray:
        """``intensity`` seen through the window, float32."""
        return (np.asarray(intensity, np.float32) * self.window(np.shape(intensity)))


def as_low_resolution(value, default_schedule: bool, given_starts: bool) -> LowResolution | None:
    """The low-resolution stage a call runs, if any.

    ``value`` None (the default): :class:`LowResolution` when the schedule is the
    default one and the starts are random, else none; True: always (random starts);
    False: never; a :class:`LowResolution`: those settings. Starts given by the caller
    (``init``: a CNN prediction, a previous result) are never low-passed.
    """
    if value is None:
        value = default_schedule
    if value is False or given_starts:
        return None
    if value is True:
        return LowResolution()
    if isinstance(value, LowResolution):
        return value
    raise TypeError(f"low_resolution must be None, True, False or a LowResolution, "
                    f"got {value!r}")
