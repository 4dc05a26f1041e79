"""CLI: `convlens train` (start or resume a training run)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convlens.config import AMP_MODES, OPTIMIZERS, SCHEDULES, TrainConfig, recipe_file
from convlens.errors import ConfigError

# Flags that may go with --resume (they do not change the numbers).
RESUME_FLAGS = ("progress",)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `train` subcommand."""
    d = TrainConfig()
    p = sub.add_parser(
        "train",
        help="train a model on a data set; every run gets its own folder",
        description="Train a model and keep everything in a run folder: resolved config, "
        "versions, metrics per epoch (CSV/JSON), last and best checkpoints "
        "(safetensors). Settings: defaults < --config FILE.yaml < flags. "
        "Ctrl-C saves a checkpoint; --resume RUN_DIR continues it.",
        examples=[
            'convlens train --model "conv 32 3, maxpool 2, dense 10" --data mnist --epochs 3',
            "convlens train --recipe best --out runs/best",
            "convlens train --budget 2m --out runs/demo",
        ],
    )
    p.add_argument(
        "--config",
        metavar="FILE.yaml",
        help="YAML file of settings (flag names with _ instead of -); flags override it",
    )
    p.add_argument(
        "--recipe",
        metavar="NAME",
        help="a named recipe shipped with convlens: best (aims at 94%% on Fashion-MNIST), "
        "cifar10_gpu; flags override it",
    )
    p.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    g = p.add_argument_group("model and data")
    g.add_argument(
        "--model",
        help=f"registry name, spec text, YAML spec, or your own nn.Module class as "
        f"path/to/nets.py:Net or package.module:Net (imports and runs that code; the class "
        f"must take no arguments) (default: {d.model})",
    )
    g.add_argument("--data", help=f"data set name (default: {d.data})")
    g.add_argument("--data-dir", help="folder of the data set files")
    g.add_argument("--limit-train", type=int, metavar="N", help="use the first N training images")
    g.add_argument("--limit-test", type=int, metavar="N", help="use the first N test images")
    g = p.add_argument_group("recipe")
    g.add_argument("--epochs", type=int, help=f"default: {d.epochs}")
    budget, steps = (
        TrainConfig.__dataclass_fields__[k].metadata["help"] for k in ("budget", "steps")
    )
    g.add_argument("--budget", metavar="TIME", help=budget)
    g.add_argument("--steps", type=int, metavar="N", help=steps)
    g.add_argument("--batch-size", type=int, help=f"default: {d.batch_size}")
    g.add_argument("--optimizer", help=f"{', '.join(OPTIMIZERS)} (default: {d.optimizer})")
    g.add_argument(
        "--lr",
        type=_lr,
        help=f"peak learning rate, or find: run `convlens lr-find` first and train with its "
        f"suggestion (default: {d.lr:g})",
    )
    g.add_argument("--weight-decay", type=float, help=f"default: {d.weight_decay:g}")
    g.add_argument("--momentum", type=float, help=f"SGD momentum (default: {d.momentum:g})")
    g.add_argument("--schedule", help=f"{', '.join(SCHEDULES)} (default: {d.schedule})")
    g.add_argument("--label-smoothing", type=float, help=f"default: {d.label_smoothing:g}")
    g.add_argument(
        "--augment",
        help="e.g. crop,flip, cutout=8 or none (default: auto = flip where a mirror image "
        "keeps its class: Fashion-MNIST, CIFAR-10; none for digits and image folders)",
    )
    g.add_argument("--seed", type=int, help=f"default: {d.seed}")
    g.add_argument(
        "--early-stopping",
        type=int,
        metavar="PATIENCE",
        help="stop after PATIENCE epochs without a better test accuracy",
    )
    g = p.add_argument_group("output and speed")
    g.add_argument("--out", help="run folder (default: runs/<model>-<data>-<timestamp>)")
    g.add_argument(
        "--tensorboard",
        action="store_true",
        default=None,
        help="also write TensorBoard event files to RUN_DIR/tensorboard",
    )
    g.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    g.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="channels-last memory format, faster convolutions on CPU "
        f"(default: {'on' if d.channels_last else 'off'})",
    )
    g.add_argument(
        "--record-filters",
        metavar="LAYERS",
        help="conv layers whose kernels are kept every epoch for `convlens show "
        f"evolution`: first, all, none or names (default: {d.record_filters})",
    )
    g.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda", "mps"),
        help=f"where to train (default: {d.device}: CUDA, then MPS, then CPU)",
    )
    g.add_argument(
        "--normalize",
        type=_normalize,
        default=None,
        metavar="{standard,none}",
        help="standard: pixels minus the training mean, over its std (default); none: raw "
        "0-255 values, to see what goes wrong without it",
    )
    g.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="evaluate with test-time flip: average each test image with its mirror "
        "(default: on when training flips, as auto augmentation does on Fashion-MNIST and "
        "CIFAR-10)",
    )
    g.add_argument(
        "--amp",
        choices=AMP_MODES,
        help="mixed precision: auto = bfloat16 where the processor has it natively "
        f"(about 2x faster on recent CPUs), none = float32 (default: {d.amp})",
    )
    g.add_argument(
        "--compile",
        action="store_true",
        default=None,
        help="torch.compile the model (slow start; slower on CPU, says so)",
    )
    g.add_argument(
        "--fused-optimizer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update all parameters in one fused optimizer kernel (same numbers up to "
        f"rounding; default: {'on' if d.fused_optimizer else 'off'})",
    )
    g.add_argument(
        "--relu-after-pool",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=f"ReLU after a max-pool, on 4x fewer values (same function; default: "
        f"{'on' if d.relu_after_pool else 'off'})",
    )
    g.add_argument(
        "--init-from",
        metavar="RUN",
        help="start from another run's weights (matching layers; a new head when "
        "the class count differs)",
    )
    g.add_argument(
        "--freeze",
        metavar="LAYERS",
        help="layers that do not train: conv (all conv layers) or conv1,conv2",
    )
    g.add_argument(
        "--no-doctor",
        dest="doctor",
        action="store_false",
        default=None,
        help="do not check the run for common mistakes while training",
    )
    g.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        default=None,
        help="no progress bar (the per-epoch lines stay)",
    )
    g = p.add_argument_group("limits (checked from the spec before anything is allocated)")
    g.add_argument(
        "--max-params",
        type=float,
        metavar="N",
        help=f"the most parameters a spec model may have (default: {d.max_params:.0e})",
    )
    g.add_argument(
        "--max-activation-mb",
        type=float,
        metavar="MIB",
        help="the most MiB the layer outputs of one training batch may take: "
        f"`convlens summary`'s activation memory x --batch-size "
        f"(default: {d.max_activation_mb:g})",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "doctor",
        help="check a run for common training mistakes, one line each with a remedy",
        description="Read a run's metrics and run its model on a test batch: chance-level "
        "accuracy, unnormalised inputs, a loss that rises, oscillates or does not "
        "move, overfitting, dead layers.",
        examples=["convlens doctor runs/demo"],
    )
    p.add_argument("run", help="run folder made by `convlens train`")
    p.set_defaults(func=cmd_doctor)


def _normalize(text: str) -> bool:
    """--normalize standard|none as the TrainConfig bool."""
    if text not in ("standard", "none"):
        raise argparse.ArgumentTypeError(f"Expected standard or none. Received: {text!r}")
    return text == "standard"


def _lr(text: str) -> float | str:
    """--lr NUMBER or --lr find."""
    if text == "find":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"Expected a number or find. Received: {text!r}") from None


def _flags(args: argparse.Namespace) -> dict:
    """Flags the user gave (argparse leaves the others None)."""
    keys = [k for k in TrainConfig.__dataclass_fields__ if k not in ("eval_batch_size",)]
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def cmd_train(args: argparse.Namespace) -> int:
    from convlens.engine import train as training
    from convlens.engine.checkpoint import has_checkpoint
    from convlens.engine.loop import TrainingInterrupted

    flags = _flags(args)
    try:
        if args.resume:
            extra = (
                [k for k in flags if k not in RESUME_FLAGS]
                + (["config"] if args.config else [])
                + (["recipe"] if args.recipe else [])
            )
            if extra:
                names = ", ".join("--" + k.replace("_", "-") for k in extra)
                raise ConfigError(f"--resume continues a run with its saved config; drop {names}")
            result = training.resume(
                args.resume, progress=flags.get("progress"), trust_code=args.trust_code
            )
        else:
            from convlens.config import resolve_config

            find = flags.get("lr") == "find"  # the finder picks the lr (engine.lr_find)
            if find:
                del flags["lr"]
            config = resolve_config(_settings_file(args), flags)
            result = training.train(config, lr="find" if find else None)
    except TrainingInterrupted as stop:
        where = (
            f"epoch {stop.epoch + 1} batch {stop.batch}"
            if stop.batch
            else f"the end of epoch {stop.epoch}"
        )
        if stop.saved:
            print(
                f"convlens train: interrupted; checkpoint saved at {where}; resume with: "
                f"convlens train --resume {stop.run_dir}",
                file=sys.stderr,
            )
        elif stop.run_dir is not None and not has_checkpoint(stop.run_dir):
            print(
                "convlens train: interrupted in the middle of a step, before the first "
                f"checkpoint; start it again with: convlens train --resume {stop.run_dir}",
                file=sys.stderr,
            )
        else:
            print(
                "convlens train: interrupted in the middle of a step; the last checkpoint is "
                f"kept; resume with: convlens train --resume {stop.run_dir}",
                file=sys.stderr,
            )
        return 130
    if result.best_epoch:
        print(
            f"best test accuracy {result.best_accuracy:.2%} at epoch {result.best_epoch}; "
            f"run folder: {result.run_dir}"
        )
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from convlens.engine.doctor import examine

    found = examine(args.run, trust_code=args.trust_code)
    for f in found:
        print(f"doctor: {f.message}")
    if not found:
        print("doctor: nothing to report")
    return 0


def _settings_file(args: argparse.Namespace) -> str | Path | None:
    """The YAML file of settings: --config FILE or the packaged --recipe NAME (not both)."""
    if args.recipe and args.config:
        raise ConfigError("give --recipe NAME or --config FILE.yaml, not both")
    return recipe_file(args.recipe) if args.recipe else args.config
