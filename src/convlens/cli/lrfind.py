"""CLI: `convlens lr-find` (a short sweep of the learning rate; the suggestion and its picture)."""

from __future__ import annotations

import argparse

from convlens.cli.flags import add_config_flags, add_settings_file, given, settings_file

RULES = ("min/10", "valley", "steepest")  # = convlens.engine.lr_find.RULES (torch-free here)
# Settings the finder does not read (it sweeps the lr over --steps batches, evaluates nothing
# and writes no run folder; --out is its picture).
UNUSED = (
    "lr",
    "epochs",
    "budget",
    "steps",
    "schedule",
    "early_stopping",
    "limit_test",
    "tensorboard",
    "tta",
    "doctor",
    "record_filters",
    "progress",
    "eval_batch_size",
    "out",
)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `lr-find` subcommand."""
    p = sub.add_parser(
        "lr-find",
        help="sweep the learning rate over ~100 batches and suggest one, with a picture",
        description="Train a copy of the model for a few batches while the learning rate "
        "grows exponentially, smooth the loss, stop when it blows up, and suggest a "
        "learning rate by a named rule (valley: fastai's; steepest: the steepest fall of "
        "the loss; min/10: a tenth of the lr at its minimum). `convlens train --lr find` "
        "runs it first.",
        examples=[
            "convlens lr-find --model fastcnn --out out/lr-find.png",
            "convlens lr-find --model keras_mnist --data digits --rule steepest",
            "convlens train --lr find",
        ],
    )
    add_settings_file(p)
    p.add_argument("--start-lr", type=float, default=1e-6, help="default: %(default)g")
    p.add_argument("--end-lr", type=float, default=1.0, help="default: %(default)g")
    p.add_argument("--steps", type=int, default=100, help="batches (default: %(default)s)")
    p.add_argument("--rule", default="min/10", help=f"{', '.join(RULES)} (default: %(default)s)")
    p.add_argument("--out", default="out/lr-find.png", help="the picture (default: %(default)s)")
    add_config_flags(p, exclude=UNUSED)
    p.set_defaults(func=cmd_lr_find)


def cmd_lr_find(args: argparse.Namespace) -> int:
    from convlens.config import resolve_config
    from convlens.engine.lr_find import check_sweep
    from convlens.engine.train import find_lr
    from convlens.io import save_figure
    from convlens.look.architecture import check_out_path
    from convlens.look.lr_find import draw_lr_find

    check_sweep(args.start_lr, args.end_lr, args.steps, args.rule)
    check_out_path(args.out)
    config = resolve_config(settings_file(args), {**given(args), "progress": False})
    found = find_lr(
        config, start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps, rule=args.rule
    )
    path = save_figure(draw_lr_find(found), args.out)
    stopped = "; stopped when the loss blew up" if found.diverged else ""
    print(
        f"suggested lr {found.suggestion:.3g} (rule {found.rule_text}); swept "
        f"{found.lrs[0]:.3g} to {found.lrs[-1]:.3g} over {len(found.lrs)} batches in "
        f"{found.seconds:.1f} s{stopped}"
    )
    print(f"train with it: convlens train --lr {found.suggestion:.3g}  (or --lr find)")
    print(f"wrote {path}")
    return 0
