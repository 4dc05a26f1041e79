"""CLI: `convlens eval` and `convlens predict` (use a trained run)."""

from __future__ import annotations

import argparse

from convlens.errors import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the `eval` and `predict` subcommands."""
    p = sub.add_parser(
        "eval",
        help="evaluate a run: accuracy, per-class precision/recall, confusion matrix",
        description="Evaluate a run on the test split of its data set (or another one with the "
        "same image shape and classes). Prints accuracy, per-class precision, recall "
        "and F1 and the most confused pairs; writes eval.json and confusion.csv into "
        "the run folder (into out/RUN_NAME/ when the run folder is read-only).",
        examples=[
            "convlens eval runs/demo",
            "convlens eval runs/demo --weights last --split train",
            "convlens eval runs/demo --batch-size 256",
        ],
    )
    p.add_argument("run", help="run folder made by `convlens train`")
    p.add_argument("--data", help="data set name (default: the run's own)")
    p.add_argument("--data-dir", help="folder of the data set files")
    p.add_argument(
        "--split",
        choices=("test", "train"),
        default="test",
        help="which images to evaluate (default: %(default)s)",
    )
    p.add_argument(
        "--weights",
        choices=("best", "last"),
        default="best",
        help="best test accuracy or last epoch (default: %(default)s)",
    )
    p.add_argument(
        "--batch-size", type=int, default=1024, help="images at once (default: %(default)s)"
    )
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser(
        "predict",
        help="top-k classes of your own images (or test images by index)",
        description="Predict with a trained run. Each image goes through the same loader as "
        "everything in convlens (EXIF orientation, alpha on white, palette, 16-bit), "
        "is converted to the model's channels, cropped to its content and fitted into "
        "the input size keeping its aspect ratio, and normalised like the training "
        "data. Dark-on-light drawings are inverted for light-on-dark data sets "
        "(MNIST, Fashion-MNIST) when --invert auto sees a light background.",
        examples=[
            "convlens predict runs/digits my_digit.png --show",
            "convlens predict runs/demo --index 0 4 --top-k 5",
            "convlens predict runs/demo shoe.jpg --invert no --show out/shoe.png",
        ],
    )
    p.add_argument("run", help="run folder made by `convlens train`")
    p.add_argument("images", nargs="*", metavar="IMAGE", help="image files (any common format)")
    p.add_argument(
        "--index",
        type=int,
        nargs="+",
        default=[],
        metavar="N",
        help="also predict test-set images by index (shows the true label)",
    )
    p.add_argument("--top-k", type=int, default=3, help="classes to show (default: %(default)s)")
    p.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="invert dark-on-light images (default: %(default)s)",
    )
    p.add_argument(
        "--weights",
        choices=("best", "last"),
        default="best",
        help="best test accuracy or last epoch (default: %(default)s)",
    )
    p.add_argument(
        "--show",
        nargs="?",
        const="out/predictions.png",
        metavar="FILE",
        help="write a picture of each input as the model sees it beside its "
        "probabilities (default file: %(const)s)",
    )
    p.set_defaults(func=cmd_predict)


def cmd_eval(args: argparse.Namespace) -> int:
    from convlens.engine.auto import resolve
    from convlens.engine.evaluate import evaluate_run, save_evaluation
    from convlens.engine.runs import load_run, write_for_run
    from convlens.values import tta_views

    if args.batch_size < 1:
        raise ConfigError(f"Expected --batch-size >= 1. Received: {args.batch_size}")
    run = load_run(args.run, weights=args.weights, trust_code=args.trust_code)
    ev = evaluate_run(
        run, data=args.data, data_dir=args.data_dir, split=args.split, batch_size=args.batch_size
    )
    print(ev)
    views = tta_views(resolve(run.config).tta)
    print(f"\ntest-time views: {','.join(views) or 'none'} (the run's tta, as it tested)")
    paths, elsewhere = write_for_run(run.path, lambda folder: save_evaluation(ev, run.path, folder))
    if elsewhere is not None:
        print(f"\nrun folder {run.path} is read-only; wrote {', '.join(map(str, paths))} instead")
    else:
        print(f"\nwrote {', '.join(str(p) for p in paths)}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from convlens.engine.predict import predict
    from convlens.engine.runs import load_run
    from convlens.look.results import draw_predictions

    if not args.images and not args.index:
        raise ConfigError("Expected at least one IMAGE or --index N. Received: neither")
    if args.top_k < 1:
        raise ConfigError(f"Expected --top-k >= 1. Received: {args.top_k}")
    if args.show and not args.show.lower().endswith((".png", ".svg", ".pdf")):
        raise ConfigError(
            f"Expected --show FILE ending in .png, .svg or .pdf. Received: {args.show!r}"
        )
    run = load_run(args.run, weights=args.weights, trust_code=args.trust_code)
    preds = predict(run, [*args.images, *args.index], invert=args.invert)
    for p in preds:
        print(p.line(args.top_k))
    if args.show:
        draw_predictions(preds, top_k=max(args.top_k, 5), out=args.show)
        print(f"wrote {args.show}")
    return 0
