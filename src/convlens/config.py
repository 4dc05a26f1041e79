"""Training configuration: one frozen dataclass, a YAML file and flags on top.

Defaults < YAML file < command-line flags. `TrainConfig()` is the default recipe: a small
batch-norm CNN (`fastcnn`), AdamW with a one-cycle schedule, label smoothing 0.1, batch 256,
horizontal flips and test-time flip where the data allows them ("auto"), 8 epochs,
channels-last and bfloat16 autocast where the CPU has it. Chosen by
measurement on a 2-core CPU for Fashion-MNIST (test accuracy after 8 epochs, about 2 minutes):
random crops 92.1%, no augmentation 93.2%, flips 93.4%; 12 epochs with flips 93.5%.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from convlens.errors import ConfigError, suggest
from convlens.values import check_choice, check_float, check_int, tta_views
from convlens.yamlfile import read_yaml

__all__ = [
    "TrainConfig",
    "OPTIMIZERS",
    "SCHEDULES",
    "AMP_MODES",
    "load_config_file",
    "merge_config",
    "resolve_config",
    "experiment_config",
    "config_to_yaml",
    "parse_budget",
    "tta_views",
]

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("onecycle", "cosine", "constant")
AMP_MODES = ("auto", "bf16", "fp16", "none")
DEVICES = ("auto", "cpu", "cuda", "mps")
DATA_SETS = tuple(  # convlens.data.sources' data sets, for `train --help` (no torch import)
    "fashion-mnist mnist cifar10 digits colour-shapes colour-shapes-gray imagefolder:PATH".split()
)
DATA, SPEED, LIMITS = "model and data", "output and speed", "limits (checked from the spec)"


def setting(default: Any, help: str, **flag: Any) -> Any:
    """A TrainConfig field: its default and its --flag's help (`flag`: group, metavar, choices)."""
    return field(default=default, metadata={"help": help, **flag})


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved as `config.yaml` in the run folder.

    Each field says what it does in its help (`setting(default, help)`; `convlens train
    --help` prints them). Behind some defaults and choices, measured on 2 CPU cores:

    - augment "auto" is "flip" where a mirror image keeps its class (`data.mirror_safe`),
      none elsewhere; tta "auto" is on when training flips: on Fashion-MNIST it lifted the
      default recipe from 93.1-93.3% to 93.4-93.5% over three seeds. The run's config records
      what "auto" became.
    - budget: the run records the steps it chose in `steps`, so its folder reruns bit for bit.
    - threads: on a busy 2-core machine (load 3-5) keras_mnist trained about 10x faster with 1
      thread than with 2 (6,311 vs 580 img/s): every op waits for both threads.
    - channels_last: a fastcnn step of 256 images took 0.12 s instead of 0.15 s. compile: 2x
      as long per step on CPU (a CPU run says so). fused_optimizer: one fused kernel
      (`fused=True`, CPU and CUDA), 2-4% faster steps (`bench/speed_switches.py`).
    - relu_after_pool: spec-built models only, names unchanged (`models.layers.SpecModel`).
    - keep_freed_memory (glibc's mallopt, `engine.memory`): a test-time-flip evaluation of the
      10,000 Fashion-MNIST test images took 0.7 s instead of 1.9 s; process-wide, for good.
    - amp "auto": bfloat16 autocast where the processor has it natively (AMD EPYC: a fastcnn
      step 69 ms instead of 145 ms), float32 elsewhere; weights and optimizer state float32.
    - record_filters (filters.safetensors, rewritten whole each epoch): "first" costs about
      1 ms and 1.2 KB per epoch on fastcnn, "all" about 7 ms and 370 KB.
    - normalize=False: raw 0-255 values, notebook 001's lesson (SGD stays at chance; the
      doctor says why). max_params 1e9 is 4 GB of float32 weights; fastcnn at batch 256 on
      28x28 images takes 54 of the max_activation_mb (`convlens.models.budget`).
    """

    model: str = setting(
        "fastcnn",
        "registry name (`convlens models`), spec text, YAML spec, or your own nn.Module class "
        "as path/to/nets.py:Net or package.module:Net (imports and runs that code; the class "
        "must take no arguments)",
        group=DATA,
    )
    data: str = setting("fashion-mnist", f"data set: {', '.join(DATA_SETS)}", group=DATA)
    data_dir: str | None = setting(None, "folder of the data set files", group=DATA)
    epochs: int = setting(8, "passes over the training set")
    budget: str | None = setting(
        None,
        "train for this long, e.g. 90s, 2m or 1h: the first batches are timed and the steps "
        "that fit (evaluations included) are saved in the run's config",
    )
    steps: int | None = setting(
        None, "optimizer steps instead of --epochs (a --budget sets it; the last epoch may be part)"
    )
    batch_size: int = setting(256, "images per training step")
    optimizer: str = setting("adamw", "sgd uses Nesterov momentum", choices=OPTIMIZERS)
    lr: float = setting(
        4e-3,
        "peak learning rate (one-cycle maximum, cosine start, or the constant); find: run the "
        "learning-rate finder first and train with its suggestion",
    )
    weight_decay: float = setting(5e-2, "L2 (sgd, adam) or decoupled (adamw) weight decay")
    momentum: float = setting(0.9, "SGD momentum (adam and adamw ignore it)")
    schedule: str = setting("onecycle", "learning-rate schedule, per batch", choices=SCHEDULES)
    label_smoothing: float = setting(0.1, "cross-entropy label smoothing in [0, 1)")
    augment: str = setting(
        "auto",
        "e.g. crop,flip, cutout=8 or none; auto: flip where a mirror image keeps its class "
        "(Fashion-MNIST, CIFAR-10), none for digits and image folders",
    )
    seed: int = setting(0, "seeds the weights, dropout and the data order of every epoch")
    limit_train: int | None = setting(None, "use the first N training images", group=DATA)
    limit_test: int | None = setting(None, "use the first N test images", group=DATA)
    early_stopping: int | None = setting(None, "stop after N epochs without a better test accuracy")
    tensorboard: bool = setting(
        False, "also write TensorBoard files to RUN/tensorboard", group=SPEED
    )
    threads: int | None = setting(None, "torch CPU threads (1 on a busy machine)", group=SPEED)
    channels_last: bool = setting(True, "channels-last memory format (faster on CPU)", group=SPEED)
    compile: bool = setting(False, "torch.compile the model (slower on CPU, says so)", group=SPEED)
    fused_optimizer: bool = setting(
        True, "one fused optimizer kernel for all parameters (same numbers)", group=SPEED
    )
    relu_after_pool: bool = setting(
        True, "ReLU after a max-pool, on 4x fewer values (same function)", group=SPEED
    )
    keep_freed_memory: bool = setting(
        True, "keep memory torch frees for the next batch (faster; keeps the peak)", group=SPEED
    )
    amp: str = setting(
        "auto",
        "mixed precision: auto = bfloat16 where the processor has it natively, none = float32",
        choices=AMP_MODES,
        group=SPEED,
    )
    device: str = setting("auto", "auto: CUDA, then MPS, then CPU", choices=DEVICES, group=SPEED)
    tta: bool | str = setting(
        "auto",
        "views of each test image whose logits are averaged: flip (the image and its mirror; "
        "true is flip), shift (the image and its copies moved one pixel up, down, left and "
        "right), flip,shift (10 views) or none (auto: flip when training flips)",
    )
    doctor: bool = setting(True, "check the run for common mistakes while training")
    init_from: str | None = setting(
        None, "start from a run's weights (matching layers; a new head for other classes)"
    )
    freeze: str = setting("", "layers that do not train: conv (all conv layers) or conv1,conv2")
    record_filters: str = setting(
        "first",
        "conv layers whose kernels are kept every epoch (`convlens show evolution`): first, "
        "all, none or names",
        group=SPEED,
    )
    progress: bool = setting(True, "a progress bar per epoch (the epoch lines stay)", group=SPEED)
    normalize: bool = setting(
        True, "standard: pixels minus the training mean, over its std; none: raw 0-255 values"
    )
    max_params: int = setting(
        1_000_000_000, "the most parameters a spec model may have", group=LIMITS
    )
    max_activation_mb: float = setting(
        4096.0,
        "the most MiB of layer outputs a training batch may take",
        group=LIMITS,
        metavar="MIB",
    )
    eval_batch_size: int = setting(1024, "images per evaluation step (no gradients)", group=SPEED)
    out: str | None = setting(None, "run folder (default: runs/MODEL-DATA-TIME)", group=SPEED)

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("schedule", self.schedule, SCHEDULES)
        check_choice("amp", self.amp, AMP_MODES)
        check_choice("device", self.device, DEVICES)
        for key in ("epochs", "batch_size", "eval_batch_size", "max_params"):
            check_int(key, getattr(self, key), minimum=1)
        for key in ("limit_train", "limit_test", "early_stopping", "threads", "steps"):
            if getattr(self, key) is not None:
                check_int(key, getattr(self, key), minimum=1)
        check_int("seed", self.seed, minimum=0, maximum=2**64 - 1)  # what torch seeds take
        check_float("lr", self.lr, low=0.0, low_open=True)
        check_float("weight_decay", self.weight_decay, low=0.0)
        check_float("momentum", self.momentum, low=0.0, high=1.0, high_open=True)
        check_float("label_smoothing", self.label_smoothing, low=0.0, high=1.0, high_open=True)
        check_float("max_activation_mb", self.max_activation_mb, low=0.0, low_open=True)
        for key in (f.name for f in fields(self) if f.type == "bool"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(
                    f"Expected true or false for {key}. Received: {key}={getattr(self, key)!r}"
                )
        if self.budget is not None:
            parse_budget(self.budget)
        if self.tta != "auto":
            tta_views(self.tta)
        for key in ("model", "data"):
            if not isinstance(getattr(self, key), str) or not getattr(self, key).strip():
                raise ConfigError(
                    f"Expected a non-empty text for {key}. Received: {key}={getattr(self, key)!r}"
                )
        if not isinstance(self.record_filters, str) or not self.record_filters.strip():
            raise ConfigError(
                f"Expected record_filters 'first', 'all', 'none' or layer names. "
                f"Received: record_filters={self.record_filters!r}"
            )
        if not isinstance(self.augment, str):
            raise ConfigError(
                f"Expected augmentations as text like 'crop,flip'. "
                f"Received: augment={self.augment!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of every field (for YAML/JSON)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated like `merge_config`)."""
        return merge_config(self, changes)


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))

_BUDGET = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|m|h)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


def parse_budget(text: Any) -> float:
    """Seconds of a time budget written "90s", "2m", "1.5h" (ConfigError otherwise)."""
    match = _BUDGET.fullmatch(text) if isinstance(text, str) else None
    seconds = float(match[1]) * _UNIT_SECONDS[match[2].lower()] if match else 0.0
    if not seconds > 0:
        raise ConfigError(f"Expected budget a time like 90s, 2m or 1h. Received: budget={text!r}")
    return seconds


def merge_config(
    base: TrainConfig, overrides: Mapping[str, Any], *, source: str = "config"
) -> TrainConfig:
    """`base` with `overrides` applied; None values in overrides are ignored (flag not given).

    Raises:
        ConfigError: an unknown key (with a suggestion) or a bad value.
    """
    changes = {}
    for key, value in overrides.items():
        key = str(key).replace("-", "_")
        if key not in FIELD_NAMES:
            raise ConfigError(
                f"unknown key {key!r} in {source}{suggest(key, FIELD_NAMES)}; "
                f"allowed: {', '.join(FIELD_NAMES)}"
            )
        if value is not None:
            changes[key] = _coerce(key, value)
    try:
        return dataclasses.replace(base, **changes)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _coerce(key: str, value: Any) -> Any:
    """YAML writes 1e-3 as text and lr: 1 as int; accept both where a float is meant."""
    field_type = {f.name: f.type for f in fields(TrainConfig)}[key]
    if "float" in str(field_type) and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    if "float" in str(field_type) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if key == "max_params" and isinstance(value, (str, float)) and not isinstance(value, bool):
        return _whole(value)  # YAML reads 1e10 as text, a flag may say 2.5e9
    if key == "augment" and isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return value


def _whole(value: str | float) -> Any:
    """'1e10' or 2.5e9 as an int when it is a whole number (else as it was, to be refused)."""
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if math.isfinite(number) and number.is_integer() else value


RECIPES = Path(__file__).resolve().parent / "recipes"  # named recipes: `--recipe NAME`
EXPERIMENT = "experiment"  # the recipe every sweep and comparison starts from


def recipe_names() -> list[str]:
    """The named recipes shipped with convlens (YAML files of TrainConfig keys)."""
    return sorted(p.stem for p in RECIPES.glob("*.yaml"))


def recipe_file(name: str) -> Path:
    """The YAML file of a named recipe (`best`, `cifar10_gpu`, ...)."""
    names = recipe_names()
    if name not in names:
        raise ConfigError(
            f"unknown recipe {name!r}{suggest(name, names)}; recipes: {', '.join(names)} "
            "(or --config FILE.yaml for your own)"
        )
    return RECIPES / f"{name}.yaml"


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping of TrainConfig keys (not yet validated)."""
    path = Path(path)
    what = f"config file {str(path)!r}"
    try:
        loaded = read_yaml(path, what=what, error=ConfigError)
    except FileNotFoundError as exc:
        raise ConfigError(f"cannot read {what}: {exc.strerror}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(
            f"Expected a YAML mapping of settings in {str(path)!r}. "
            f"Received: {type(loaded).__name__}"
        )
    return loaded


def resolve_config(
    file: str | Path | None = None,
    flags: Mapping[str, Any] | None = None,
    *,
    source: str = "flags",
) -> TrainConfig:
    """Defaults < YAML file < flags (flags that are None count as not given); `source` names
    where the flags came from in an error."""
    config = TrainConfig()
    if file is not None:
        config = merge_config(config, load_config_file(file), source=f"config file {str(file)!r}")
    if flags:
        config = merge_config(config, flags, source=source)
        if flags.get("budget") is not None and flags.get("steps") is None:
            # a new budget is timed again, not the steps a file recorded for an older one
            config = dataclasses.replace(config, steps=None)
    return config


def experiment_config(
    file: str | Path | None = None,
    settings: Mapping[str, Any] | None = None,
    *,
    source: str = "flags",
) -> TrainConfig:
    """The settings of the runs of a sweep or comparison: defaults < the recipe
    recipes/experiment.yaml (or `file` instead of it) < `settings`. Both doors start here."""
    return resolve_config(file or recipe_file(EXPERIMENT), settings, source=source)


def config_to_yaml(config: TrainConfig) -> str:
    """The resolved config as YAML text (key order = field order)."""
    return yaml.safe_dump(config.to_dict(), sort_keys=False)
