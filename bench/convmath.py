"""How fast is the reference convolution? Loop vs vectorised vs scipy vs torch, one table.

A 3x3 kernel on scikit-image's 512x512 camera photo. The loop (the lesson's readable path)
is timed on a 64x64 crop and scaled by the number of output pixels; the table says so.

    .venv/bin/python bench/convmath.py
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from machine import describe
from scipy import signal
from skimage import data

from convlens.primer.convmath import conv2d
from convlens.primer.kernels import KERNELS


def best_of(fn, repeats: int) -> float:
    """Best wall time of `repeats` calls, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    image = data.camera().astype(np.float64)  # (512, 512)
    kernel = KERNELS["sobel_x"].weights.copy()  # the library copy is read-only
    reference = F.conv2d(torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None])[
        0, 0
    ].numpy()
    crop = image[:64, :64]
    scale = reference.size / ((crop.shape[0] - 2) * (crop.shape[1] - 2))
    loop_crop = best_of(lambda: conv2d(crop, kernel, method="loop"), 1)
    rows = [
        (
            "convlens loop (64x64 crop, scaled)",
            loop_crop * scale,
            np.abs(conv2d(crop, kernel, method="loop") - reference[:62, :62]).max(),
        ),
        (
            "convlens fast (numpy einsum)",
            best_of(lambda: conv2d(image, kernel), 5),
            np.abs(conv2d(image, kernel) - reference).max(),
        ),
        (
            "scipy.signal.correlate2d",
            best_of(lambda: signal.correlate2d(image, kernel, "valid"), 5),
            np.abs(signal.correlate2d(image, kernel, "valid") - reference).max(),
        ),
        (
            "torch conv2d (float64)",
            best_of(
                lambda: F.conv2d(
                    torch.from_numpy(image)[None, None], torch.from_numpy(kernel)[None, None]
                ),
                5,
            ),
            0.0,
        ),
    ]
    loop_time = rows[0][1]
    print(
        f"{describe(torch.get_num_threads())}; 3x3 sobel_x on a "
        f"{image.shape[0]}x{image.shape[1]} photo, valid padding"
    )
    print(
        f"| {'method':<36} | {'time ms':>9} | {'speed-up vs loop':>16} | "
        f"{'max abs diff vs torch':>21} |"
    )
    print(f"|{'-' * 38}|{'-' * 11}|{'-' * 18}|{'-' * 23}|")
    for name, seconds, diff in rows:
        print(
            f"| {name:<36} | {seconds * 1000:>9.1f} | {loop_time / seconds:>15.0f}x | "
            f"{diff:>21.2e} |"
        )


if __name__ == "__main__":
    main()
