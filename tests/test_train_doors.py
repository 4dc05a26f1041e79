"""Both doors, one engine: `convlens train` and `cl.train` say the same words (the engine's
`start`), and `convlens compare` and `cl.compare` give the same table (the engine's sweep
with the experiment recipe), on the offline `digits` data."""

from __future__ import annotations

import re

import pytest
import yaml

import convlens as cl
from convlens.errors import ConvlensError

TINY = {"epochs": 1, "limit_train": 128, "limit_test": 64, "batch_size": 32}
SPEC = "conv 2 3, maxpool 2, flatten, dense 10"


def flags(options: dict) -> list[str]:
    return [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def api_error(**kwargs) -> str:
    with pytest.raises(ConvlensError) as exc:
        cl.train(SPEC, data="digits", quiet=True, **kwargs)
    return str(exc.value)


def test_both_doors_refuse_in_the_same_words(cli, tmp_path):
    out = tmp_path / "run"
    cl.train(SPEC, data="digits", out=out, quiet=True, **TINY)
    cases = [  # (the CLI's arguments, cl.train's keywords)
        (["--model", SPEC, "--out", out, *flags(TINY)], {"out": out, **TINY}),  # a run is there
        (["--resume", out, "--epochs", "3"], {"out": out, "resume": True, "epochs": 3}),
        (["--resume", out, "--lr", "find"], {"out": out, "resume": True, "lr": "find"}),
    ]
    for argv, kwargs in cases:
        r = cli("train", "--data", "digits", *argv)
        said = api_error(**kwargs)
        assert r.code == 2 and r.err == f"convlens train: error: {said}\n", (r.err, said)
    assert "already holds a run; continue it with convlens train --resume" in api_error(
        out=out, **TINY
    )


def _table(text: str) -> list[list[str]]:
    """The rows of a Markdown results table, without the time columns (train s, images/s)."""
    rows = [line.split("|")[1:-1] for line in text.splitlines() if line.startswith("|")]
    assert rows and rows[0][0].strip() == "run", text
    return [[c.strip() for c in row[:6]] for row in rows]


def test_compare_gives_the_same_table_through_both_doors(cli, tmp_path):
    models = ["mlp", SPEC]
    r = cli("compare", *models, "--data", "digits", *flags(TINY), "--seeds", "2",
            "--out", tmp_path / "cli", "--no-progress")  # fmt: skip
    assert r.code == 0, r.err
    exp = cl.compare(models, data="digits", seeds=2, out=tmp_path / "api", quiet=True, **TINY)
    printed = r.out[r.out.index("| run |") :].split("\n\n")[0]
    assert _table(printed) == _table(exp.table())
    assert len(_table(printed)) == 4 and "(2)" in printed  # header, rule, two models
    # the same budget: every run's saved settings match but for where it went and the bar
    for run in (tmp_path / "cli").glob("*/config.yaml"):
        theirs = yaml.safe_load((tmp_path / "api" / run.parent.name / "config.yaml").read_text())
        ours = yaml.safe_load(run.read_text())
        for saved in (ours, theirs):
            saved.pop("out"), saved.pop("progress")
        assert ours == theirs and ours["optimizer"] == "adam" and ours["lr"] == 2e-3
    assert re.search(r"wrote .*compare\.md, .*compare\.csv, .*compare\.png", r.out)
