"""How the builtin enhancer imitates each catalog enhancer model: the settings, without numpy.

Apart from :mod:`ffpipe.engine.builtin.enhance` so that capabilities and plans can say what stands
in for
a model without loading OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Restoration:
    """How one catalog model is imitated."""

    resolution: int
    """Side of the aligned face crop, in pixels."""
    denoise: float
    """Guided filter regularisation, as a standard deviation on 0-1 intensities."""
    detail: float
    """Extra gain on mid-scale detail (0: none)."""
    sharpen: float
    """Unsharp mask amount (0: none)."""

    def describe(self) -> str:
        return (
            f"classical restoration at {self.resolution}x{self.resolution}: guided-filter denoise "
            f"(sigma {self.denoise:g}), detail boost x{1 + self.detail:g}, unsharp mask "
            f"{self.sharpen:g}"
        )


RESTORATIONS: dict[str, Restoration] = {
    "gfpgan_1.2": Restoration(512, denoise=0.03, detail=0.6, sharpen=0.7),
    "gfpgan_1.3": Restoration(512, denoise=0.025, detail=0.5, sharpen=0.6),
    "gfpgan_1.4": Restoration(512, denoise=0.025, detail=0.6, sharpen=0.8),
    "gpen_bfr_256": Restoration(256, denoise=0.03, detail=0.5, sharpen=0.8),
    "gpen_bfr_512": Restoration(512, denoise=0.03, detail=0.5, sharpen=0.8),
    "gpen_bfr_1024": Restoration(1024, denoise=0.03, detail=0.5, sharpen=0.8),
    "gpen_bfr_2048": Restoration(2048, denoise=0.03, detail=0.5, sharpen=0.8),
    "codeformer": Restoration(512, denoise=0.04, detail=0.7, sharpen=0.6),
    "restoreformer_plus_plus": Restoration(512, denoise=0.02, detail=0.6, sharpen=0.9),
}
"""Catalog enhancer model name -> the classical stand-in's settings."""

ENHANCER_METHOD: dict[str, str] = {name: spec.describe() for name, spec in RESTORATIONS.items()}
"""Catalog enhancer model name -> what the builtin engine does in its place."""
