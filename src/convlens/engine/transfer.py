"""Transfer learning: start from another run's weights, optionally freezing layers."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load_file
from torch import nn

from convlens.engine.checkpoint import BEST, LAST, verify_checksums
from convlens.engine.runs import read_run_info
from convlens.errors import ConfigError
from convlens.models.hooks import conv_layers, get_layer


def init_from_run(model: nn.Module, run_dir: str | Path, *, log=print) -> list[str]:
    """Load every tensor of `run_dir`'s best (else last) weights whose name and shape match.

    Returns the loaded names; logs which layers came from the run and which start new.
    """
    run_dir = Path(run_dir)
    read_run_info(run_dir)
    name = BEST if (run_dir / BEST).is_file() else LAST
    verify_checksums(run_dir, (name,))
    source = load_file(str(run_dir / name))
    own = model.state_dict()
    loaded = {k: v for k, v in source.items() if k in own and own[k].shape == v.shape}
    if not loaded:
        raise ConfigError(
            f"--init-from {run_dir}: no layer of that run fits this model "
            f"(names or shapes differ everywhere)"
        )
    model.load_state_dict(loaded, strict=False)
    layers = sorted({k.split(".")[0] for k in loaded})
    new = sorted({k.split(".")[0] for k in own if k not in loaded})
    if log:
        log(
            f"init from {run_dir}: loaded {', '.join(layers)}"
            + (f"; new: {', '.join(new)}" if new else "")
        )
    return list(loaded)


def freeze_layers(model: nn.Module, which: str) -> list[str]:
    """Stop training the named layers ("conv" = every conv layer); returns their names."""
    names = (
        conv_layers(model)
        if which.strip().lower() == "conv"
        else [n.strip() for n in which.split(",") if n.strip()]
    )
    for name in names:
        for p in get_layer(model, name).parameters():
            p.requires_grad_(False)
    return names
