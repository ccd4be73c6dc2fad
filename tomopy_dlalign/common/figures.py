"""Figure parts that every report of both packages draws the same way.

An image panel is read at a glance when its axes say what a pixel is and a colour bar
says what a grey level is: :func:`image_panel` draws both, :func:`shared_colorbar` gives
panels drawn on one scale one bar. A legend is read without hiding data when it sits
beside the axes, not on them: :func:`legend_outside`. Matplotlib is not imported here:
the callers have it already (section 15 of the style guide); :func:`pyplot` imports it
for them with the file-only ``Agg`` backend.

Example
-------
>>> import numpy as np
>>> from tomopy_dlalign.common.figures import image_panel, legend_outside, pyplot
>>> plt = pyplot()
>>> fig, (a, b) = plt.subplots(1, 2, layout="constrained")
>>> im = image_panel(a, np.eye(4), "attenuation (1/pixel)")
>>> im.colorbar.ax.get_ylabel()
'attenuation (1/pixel)'
>>> _ = b.plot([0, 1], label="a line")
>>> _ = legend_outside(b)
>>> plt.close(fig)
"""

from __future__ import annotations

#: axis labels of an image whose pixels are detector or slice pixels
PIXEL_AXES = ("column (pixels)", "row (pixels)")


def pyplot():
    """``matplotlib.pyplot`` on the ``Agg`` backend (figures go to files, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_panel(ax, image, bar_label: str | None, *, xlabel: str = PIXEL_AXES[0],
                ylabel: str = PIXEL_AXES[1], **imshow):
    """``ax.imshow(image, **imshow)`` with axis labels and, unless ``bar_label`` is None
    (panels that share a bar, :func:`shared_colorbar`), its own colour bar so labelled.

    Labels carry their unit in parentheses: ``"phase (rad)"``, ``"x (nm)"``. Returns the
    image (its ``colorbar`` attribute holds the bar)."""
    shown = ax.imshow(image, **imshow)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if bar_label is not None:
        # in an inset, the bar follows the image's drawn height, not its layout box's
        ax.figure.colorbar(shown, cax=ax.inset_axes([1.04, 0.0, 0.05, 1.0]),
                           label=bar_label)
    return shown


def shared_colorbar(image, axes, label: str, **kwargs):
    """One colour bar, labelled ``label``, for every panel of ``axes``, which must all be
    drawn with ``image``'s colour map and limits (``vmin``, ``vmax``)."""
    return image.axes.figure.colorbar(image, ax=axes, label=label, **kwargs)


def legend_outside(ax, below: bool = False, **kwargs):
    """The legend of ``ax`` beside the axes (right of them, or under them with
    ``below``), where it hides no data; constrained layout makes room for it."""
    if below:
        place = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.18), "ncol": 2}
    else:
        place = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0)}
    return ax.legend(**{"fontsize": 8, "borderaxespad": 0, **place, **kwargs})
