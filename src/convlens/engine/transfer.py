"""Transfer learning: start from another run's weights, optionally freezing layers."""

from __future__ import annotations

from pathlib import Path

from safetensors.torch import load
from torch import nn

from convlens.engine.checkpoint import read_checkpoint
from convlens.engine.runs import read_run_info
from convlens.errors import CheckpointError, ConfigError
from convlens.models.hooks import conv_layers, get_layer


def init_from_run(model: nn.Module, run_dir: str | Path, *, log=print) -> list[str]:
    """Load every tensor of `run_dir`'s best (else last) weights whose name and shape match;
    `run_dir` may also be a .safetensors file of weights.

    Returns the loaded names; logs which layers came from the run and which start new.
    """
    run_dir = Path(run_dir)
    if run_dir.is_file():
        try:
            data, where = run_dir.read_bytes(), run_dir
        except OSError as exc:
            raise CheckpointError(f"--init-from {str(run_dir)!r}: {exc.strerror}") from None
    else:
        read_run_info(run_dir)
        _, files, paths = read_checkpoint(run_dir, ("best",))
        data, where = files["best"], paths["best"]
    try:
        source = load(data)
    except Exception:  # safetensors raises its own error types
        raise CheckpointError(
            f"--init-from {str(where)!r} is truncated or not a safetensors file of weights; "
            f"give a run folder made by `convlens train` or a whole .safetensors file"
        ) from None
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
