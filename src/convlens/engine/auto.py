"""The config's data-dependent "auto" settings made concrete for its data set.

`augment="auto"` flips images left-right where a mirror image keeps its class
(`convlens.data.mirror_safe`: Fashion-MNIST, CIFAR-10) and does nothing elsewhere (a mirrored
digit is no digit); `tta="auto"` evaluates with test-time flip exactly when training flips.
`fit` and every evaluation go through `resolve`, and `train` records its result in the run's
config, so a run folder never says "auto".
"""

from __future__ import annotations

from convlens import data as datamod
from convlens.config import TrainConfig
from convlens.errors import DataError

__all__ = ["resolve"]


def resolve(cfg: TrainConfig) -> TrainConfig:
    """`cfg` with augment and tta "auto" replaced by what they mean for `cfg.data`."""
    if cfg.augment.strip().lower() != "auto" and cfg.tta != "auto":
        return cfg
    augment = cfg.augment
    if augment.strip().lower() == "auto":
        augment = "flip" if _mirror_safe(cfg.data) else "none"
    tta = cfg.tta
    if tta == "auto":
        flips = (
            augment.strip().lower() not in ("", "none", "off")
            and datamod.parse_augment(augment).flip
        )
        tta = bool(flips)
    return cfg.replace(augment=augment, tta=tta)


def _mirror_safe(name: str) -> bool:
    try:
        return datamod.mirror_safe(name)
    except DataError:  # an unknown name is reported where the data is loaded
        return False
