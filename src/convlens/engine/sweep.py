"""Experiments: every combination of a grid as its own run, then one table sorted by accuracy.

    convlens sweep --model "conv {f} {k}, maxpool 2, flatten, dense 10" --grid f=16,32 k=3,5
    convlens compare mlp keras_mnist

Grid keys in braces fill the spec; other keys are training settings (`batch-size`, `epochs`,
`lr`, `model`, `optimizer`, ...). A comparison is a sweep over `model`: several models with the
same data and budget (notebook 003's CNN versus MLP), its rows named by the model. `seeds=N`
repeats each combination with seeds seed..seed+N-1 and reports mean and spread. Finished runs
are reused and interrupted ones resume, so an interrupted sweep continues where it stopped.
`jobs=N` trains N runs at once in separate processes, each with cpu_count / N threads.

The budget of every run, unless the caller names another settings file, is the recipe
`src/convlens/recipes/experiment.yaml` (`convlens.config.experiment_config`): both doors
(`convlens sweep/compare`, `cl.sweep/compare`) start from it, so the same call gives the same
table.
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import os
import statistics
import string
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from convlens.config import TrainConfig, config_to_yaml
from convlens.engine import train as training
from convlens.engine.auto import resolve
from convlens.engine.checkpoint import load_run_state, read_manifest
from convlens.engine.runs import RUN_FILE, load_run, read_run_config, slug
from convlens.errors import ConfigError, suggest
from convlens.io import atomic_write_text

FIELDS = {f.name for f in fields(TrainConfig)} - {"out", "progress"}


def parse_grid(items: Sequence[str]) -> dict[str, list[str]]:
    """['f=16,32', 'batch-size=32,128'] -> {'f': ['16', '32'], 'batch_size': ['32', '128']}."""
    grid: dict[str, list[str]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        key = key.strip().replace("-", "_")
        parts = [v.strip() for v in values.split(",") if v.strip()] if sep else []
        if not key or not parts:
            raise ConfigError(f"Expected --grid KEY=V1,V2,... Received: {item!r}")
        grid[key] = parts
    return grid


def combinations(template: str, grid: dict[str, list[str]]) -> list[dict[str, str]]:
    """Every combination of the grid; checks that keys are spec placeholders or settings."""
    holes = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    holes.discard("num_classes")
    for key in grid:
        if key not in holes and key not in FIELDS:
            raise ConfigError(
                f"grid key {key!r} is neither a {{placeholder}} of the model "
                f"({', '.join(sorted(holes)) or 'none'}) nor a training setting"
                f"{suggest(key, FIELDS)}"
            )
    missing = holes - set(grid)
    if missing:
        raise ConfigError(
            f"the model has {{{sorted(missing)[0]}}} but --grid gives no values for it"
        )
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*grid.values())]


def config_for(
    base: TrainConfig, template: str, combo: dict[str, str], seed: int, out: Path
) -> TrainConfig:
    """The TrainConfig of one run of the sweep."""
    spec_values = {k: v for k, v in combo.items() if k not in FIELDS}
    settings: dict[str, Any] = {k: v for k, v in combo.items() if k in FIELDS}
    model = settings.pop("model", template)
    model = (
        model.replace("{num_classes}", "\0").format(**spec_values).replace("\0", "{num_classes}")
    )
    typed = {f.name: f.type for f in fields(TrainConfig)}
    for key, value in settings.items():
        kind = str(typed[key])
        settings[key] = (
            int(value)
            if kind.startswith("int")
            else float(value)
            if kind.startswith("float")
            else value
        )
    return base.replace(
        model=model, seed=seed, out=str(out / _folder_name(combo, seed)), **settings
    )


def _folder_name(combo: dict[str, str], seed: int) -> str:
    """The run's folder: its combination and seed, with a hash where the name is cut short
    (two long specs must not share a folder)."""
    text = "_".join(f"{k}={v}" for k, v in combo.items()) + f"_seed={seed}"
    name = slug(text, 80)
    if name == slug(text, len(text) + 1):
        return name
    return f"{slug(text, 71)}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def train_or_reuse(cfg: TrainConfig, *, log=print, jobs: int = 1) -> Path:
    """Train `cfg` into cfg.out, resume it if interrupted, reuse it if finished."""
    if cfg.out is None:
        raise ConfigError("a sweep run needs its folder (cfg.out)")
    run_dir = Path(cfg.out)
    if not (run_dir / RUN_FILE).is_file():
        return _launch(cfg, run_dir, None, log, jobs)
    saved = read_run_config(run_dir)
    if saved.replace(progress=cfg.progress, threads=cfg.threads, out=cfg.out) != resolve(cfg):
        raise ConfigError(f"{run_dir} holds a run with other settings; pick another --out")
    state = load_run_state(run_dir) if read_manifest(run_dir) else {"epoch": 0}
    if state["epoch"] >= cfg.epochs or state.get("stop"):
        return run_dir
    return _launch(cfg, run_dir, ["--resume", str(run_dir)], log, jobs)


def _launch(cfg: TrainConfig, run_dir: Path, resume: list[str] | None, log, jobs: int) -> Path:
    if jobs <= 1:
        if resume:
            training.resume(run_dir, log=log, progress=cfg.progress, trust_code=True)
        else:
            training.train(cfg, log=log)
        return run_dir
    # a separate process per run, each with its share of the cores
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if resume:
        args = ["train", *resume, "--no-progress", "--trust-code"]
    else:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        cfg_file = run_dir.with_suffix(".yaml")
        atomic_write_text(cfg_file, config_to_yaml(cfg.replace(threads=threads, progress=False)))
        args = ["train", "--config", str(cfg_file)]
    done = subprocess.run([sys.executable, "-m", "convlens", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise ConfigError(f"run {run_dir} failed: {done.stderr.strip().splitlines()[-1:]}")
    return run_dir


@dataclass(frozen=True)
class Result:
    """One finished run: `accuracy` and `loss` are the test set's at its best epoch, `curve`
    the test accuracy per epoch, `train_curve` the training accuracy per epoch (on the
    batches as they were trained), `path` the run's folder (`cl.load(path)` opens it)."""

    combo: dict[str, str]
    seed: int
    accuracy: float
    loss: float
    params: int
    mult_adds: int
    seconds: float
    images_per_second: float
    curve: tuple[float, ...]
    train_curve: tuple[float, ...] = ()
    path: str = ""


def result_of(run_dir: Path, combo: dict[str, str], seed: int) -> Result:
    """Accuracy, size, cost and speed of a finished run."""
    from convlens.models.summary import summary

    run = load_run(run_dir, trust_code=True)  # its model is the sweep's own (cfg.model)
    s = summary(run.model, run.input_shape)
    metrics = run.metrics
    seconds = sum(m["seconds"] for m in metrics)
    best = max(metrics, key=lambda m: m["test_accuracy"])
    images = run.info.get("train_images", 0) * len(metrics)
    return Result(
        combo,
        seed,
        best["test_accuracy"],
        best["test_loss"],
        s.total_params,
        s.total_mult_adds,
        seconds,
        images / seconds if seconds else 0.0,
        tuple(m["test_accuracy"] for m in metrics),
        tuple(m["train_accuracy"] for m in metrics),
        str(run_dir),
    )


def sweep(
    template: str,
    grid: dict[str, list[str]],
    base: TrainConfig,
    out: str | Path,
    *,
    seeds: int = 1,
    jobs: int = 1,
    log=print,
) -> list[Result]:
    """Run (or reuse) every combination x seed; the results in grid order."""
    out = Path(out)
    plan = [
        (combo, base.seed + s, config_for(base, template, combo, base.seed + s, out))
        for combo in combinations(template, grid)
        for s in range(seeds)
    ]

    def one(item):
        combo, seed, cfg = item
        if log and jobs <= 1:
            log(f"== {Path(cfg.out).name}")
        return result_of(
            train_or_reuse(cfg, log=log if jobs <= 1 else None, jobs=jobs), combo, seed
        )

    if jobs <= 1:
        return [one(item) for item in plan]
    with ThreadPoolExecutor(jobs) as pool:
        return list(pool.map(one, plan))


def compare(models: Sequence[str], base: TrainConfig, out: str | Path, **how: Any) -> list[Result]:
    """A sweep over models, each trained with the settings of `base` (`how`: seeds, jobs, log
    of `sweep`); the results in order."""
    return sweep("{model}", {"model": list(models)}, base, out, **how)


def label(combo: Mapping[str, str]) -> str:
    """A row's name: its settings as k=v, or just the model for a comparison."""
    if list(combo) == ["model"]:
        return combo["model"]
    return " ".join(f"{k}={v}" for k, v in combo.items())


def summarize(results: Sequence[Result]) -> list[dict[str, Any]]:
    """One row per combination (mean and spread over seeds), best accuracy first."""
    groups: dict[str, list[Result]] = {}
    for r in results:
        groups.setdefault(label(r.combo), []).append(r)
    rows = []
    for name, rs in groups.items():
        accs = [r.accuracy for r in rs]
        rows.append(
            {
                "run": name,
                "accuracy": statistics.fmean(accs),
                "spread": statistics.stdev(accs) if len(accs) > 1 else 0.0,
                "seeds": len(rs),
                "loss": statistics.fmean(r.loss for r in rs),
                "params": rs[0].params,
                "mult_adds": rs[0].mult_adds,
                "seconds": statistics.fmean(r.seconds for r in rs),
                "images_per_second": statistics.fmean(r.images_per_second for r in rs),
            }
        )
    return sorted(rows, key=lambda r: -r["accuracy"])


def table(rows: Sequence[dict[str, Any]]) -> str:
    """The summary as a Markdown table."""
    lines = [
        "| run | test acc | ± (seeds) | loss | params | mult-adds | train s | images/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        spread = f"{r['spread']:.2%} ({r['seeds']})" if r["seeds"] > 1 else "-"
        lines.append(
            f"| {r['run']} | {r['accuracy']:.2%} | {spread} | {r['loss']:.4f} | "
            f"{r['params']:,} | {r['mult_adds']:,} | {r['seconds']:.1f} | "
            f"{r['images_per_second']:,.0f} |"
        )
    return "\n".join(lines)


def write_outputs(
    rows: Sequence[dict[str, Any]], out: str | Path, name: str = "sweep"
) -> list[Path]:
    """NAME.md and NAME.csv in `out` (the plot beside them: look/experiments.py)."""
    out = Path(out)
    md, csv_path = out / f"{name}.md", out / f"{name}.csv"
    atomic_write_text(md, table(rows) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(csv_path, buf.getvalue())
    return [md, csv_path]
