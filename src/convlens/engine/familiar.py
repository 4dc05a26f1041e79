"""Whether an input looks like the model's training data, by two simple rules a learner can
check: its brightness statistics against the training set's (the run's normalisation mean
and std), and the model's own confidence. A photo of a cat into a digit model breaks the
first (mean 0.48 against 0.13 +- 0.31, contrast a fifth of the digits'), however sure the
model claims to be."""

from __future__ import annotations

from collections.abc import Sequence

import torch

MEAN_OFF = 0.8  # |image mean - training mean| above this many training stds is unusual
CONTRAST = (0.5, 2.0)  # image std / training std outside this range is unusual
UNSURE = 0.5  # a top probability below this: the model is unsure


def unlike_training(
    pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float], top_prob: float
) -> str:
    """One line saying why uint8 `pixels` (C, H, W) look unlike the training data (whose
    per-channel `mean` and `std` are on a 0..1 scale), with the rule; "" when they do not.

    Test images of the digit sets stay within 0.45 std of the mean and 0.55..1.35 of the
    contrast; photos are 1.0 to 1.1 std brighter and have 0.2..0.6 of the contrast.
    """
    a = pixels.float().div(255).flatten(1)  # (C, H*W)
    img_mean, img_std = a.mean().item(), a.std().item()
    m = sum(mean) / len(mean)
    s = sum(std) / len(std) or 1.0
    why = []
    off = (img_mean - m) / s
    if abs(off) > MEAN_OFF:
        why.append(
            f"its mean brightness {img_mean:.2f} is {abs(off):.1f} training stds from the "
            f"training mean {m:.2f} (the rule: more than {MEAN_OFF})"
        )
    ratio = img_std / s
    if not CONTRAST[0] <= ratio <= CONTRAST[1]:
        why.append(
            f"its contrast (std {img_std:.2f}) is {ratio:.2f} times the training data's "
            f"{s:.2f} (the rule: outside {CONTRAST[0]}..{CONTRAST[1]})"
        )
    if top_prob < UNSURE:
        why.append(f"the model's top class has only {top_prob:.0%} (the rule: under {UNSURE:.0%})")
    if not why:
        return ""
    return "Unlike the training data: " + "; ".join(why) + ". Read the answer with care."
