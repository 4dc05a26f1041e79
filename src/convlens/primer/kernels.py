"""Classic hand-made kernels (blur, sharpen, edges) by name, as read-only numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convlens.errors import ConvMathError, suggest

__all__ = ["KERNELS", "Kernel", "get_kernel"]


@dataclass(frozen=True)
class Kernel:
    """A classic hand-made kernel."""

    name: str
    weights: np.ndarray
    description: str


def _k(name: str, rows: list[list[float]], description: str, scale: float = 1.0) -> Kernel:
    w = np.array(rows, dtype=np.float64) * scale
    w.setflags(write=False)
    return Kernel(name, w, description)


_g = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1])
KERNELS: dict[str, Kernel] = {
    k.name: k
    for k in (
        _k("identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]], "copies the image"),
        _k("box_blur", [[1, 1, 1]] * 3, "mean of the 3x3 neighbourhood", 1 / 9),
        _k(
            "gaussian_blur",
            [[1, 2, 1], [2, 4, 2], [1, 2, 1]],
            "weighted mean, nearer counts more",
            1 / 16,
        ),
        _k("gaussian_blur_5x5", _g.tolist(), "wider Gaussian blur (5x5)", 1 / 256),
        _k("sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "centre minus its neighbours"),
        _k(
            "sobel_x", [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "vertical edges (left-to-right change)"
        ),
        _k(
            "sobel_y",
            [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
            "horizontal edges (top-to-bottom change)",
        ),
        _k("prewitt_x", [[-1, 0, 1]] * 3, "vertical edges, unweighted"),
        _k("prewitt_y", [[-1, -1, -1], [0, 0, 0], [1, 1, 1]], "horizontal edges, unweighted"),
        _k("laplacian", [[0, 1, 0], [1, -4, 1], [0, 1, 0]], "second derivative: edges both ways"),
        _k("outline", [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], "edges in every direction"),
        _k("emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], "relief lit from the top left"),
        _k(
            "horizontal_edge",
            [[10, 10, 10], [0, 0, 0], [-10, -10, -10]],
            "bright-above-dark boundaries (the notebooks' example)",
        ),
    )
}


def get_kernel(name: str) -> Kernel:
    """A classic kernel by name; ConvMathError with a suggestion for unknown names."""
    key = str(name).strip().lower().replace("-", "_")
    if key not in KERNELS:
        raise ConvMathError(
            f"unknown kernel {name!r}{suggest(key, KERNELS)}; known: {', '.join(KERNELS)}"
        )
    return KERNELS[key]
