"""Checkpoints: the weights and the training state, saved as one unit and read back.

After every epoch (and on Ctrl-C) the `Checkpoint` callback saves generation g of the
checkpoint into the run folder:

    weights.<g>.safetensors  weights after the last finished epoch (or interrupted batch)
    state.<g>.pt             optimizer, scheduler, RNG, epoch and batch, history and every
                             callback's state_dict: tensors and plain data only
    checkpoint.json          the manifest: generation, epoch, batch, and for each role (last,
                             best, state) its file and sha256. Readers follow it.
    metrics.csv/.json        one row per epoch

A save writes the new files under new names (each fsynced, then the folder), then atomically
replaces checkpoint.json and fsyncs the folder again; only then are the files no manifest
names deleted (the previous generation, the stray files of a save that was killed). A kill or
a full disk at any moment therefore leaves the previous or the new checkpoint whole (and, as
far as the file system keeps its fsync promises, so does a power cut). `best` names the weights of
the epoch with the best test accuracy: the file of `last` when that epoch just ended, else one
of an earlier generation, kept while it is named. A run folder with no manifest and no
weight or state files has not started (no epoch ended): `convlens train --resume` starts it;
one that holds such files but no manifest (checkpoint.json lost) is refused in one line,
its files untouched: no command deletes checkpoint files that no manifest names.

Run folders from before manifests (model.safetensors, best.safetensors, state.pt and
checksums.json) are read as generation 0 and converted by their next save. State is loaded
with weights_only=True; every file is checked against its sha256 before it is used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save
from torch import nn

from convlens.engine.hints import start_again
from convlens.engine.runfiles import CHECKPOINT_FORMAT, check_format
from convlens.errors import CheckpointError
from convlens.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = [
    "MANIFEST",
    "ROLES",
    "LAST",
    "BEST",
    "STATE",
    "CHECKSUMS",
    "Manifest",
    "plain_module",
    "save_weights",
    "load_weights",
    "apply_weights",
    "load_state",
    "read_manifest",
    "has_checkpoint",
    "check_no_orphans",
    "read_checkpoint",
    "checkpoint_file",
    "load_run_state",
    "save_checkpoint",
    "write_metrics",
    "not_started",
]

MANIFEST = "checkpoint.json"
ROLES = ("last", "best", "state")
# the files of run folders written before manifests
LAST, BEST, STATE, CHECKSUMS = "model.safetensors", "best.safetensors", "state.pt", "checksums.json"
GENERATION_FILE = re.compile(r"^(weights|state)\.(\d+)\.(safetensors|pt)$")
# temp files of atomic_write_bytes (".NAME.xxxxxxxx.tmp") of the files a training writes
TEMP_FILE = re.compile(
    r"^\.(weights\.\d+\.safetensors|state\.\d+\.pt|checkpoint\.json|metrics\.(json|csv)"
    r"|filters\.safetensors|doctor\.json|failure\.json"
    r"|model\.safetensors|best\.safetensors|state\.pt|checksums\.json)\.[0-9a-f]{8}\.tmp$"
)


# ----------------------------------------------------------------------------- weights
def plain_module(model: nn.Module) -> nn.Module:
    """The model inside DistributedDataParallel and torch.compile wrappers."""
    model = (
        getattr(model, "module", model)
        if type(model).__name__ == "DistributedDataParallel"
        else model
    )
    return getattr(model, "_orig_mod", model)


def weights_bytes(model: nn.Module) -> bytes:
    """The model's state_dict as safetensors bytes."""
    tensors = {
        k: v.detach().contiguous().cpu().clone()
        for k, v in plain_module(model).state_dict().items()
    }
    return save(tensors)


def save_weights(path: str | Path, model: nn.Module) -> None:
    """Save the model's state_dict as safetensors, atomically."""
    atomic_write_bytes(path, weights_bytes(model))


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load safetensors weights into `model`; CheckpointError for a bad file or architecture."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} is missing") from None
    apply_weights(model, data, path)


def apply_weights(model: nn.Module, data: bytes, path: str | Path) -> None:
    """Load safetensors bytes (read from `path`) into `model`."""
    try:
        tensors = load(data)
    except Exception:
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or not a safetensors file"
        ) from None
    target = plain_module(model).state_dict()
    missing = [k for k in target if k not in tensors]
    unexpected = sorted(k for k in tensors if k not in target)
    wrong = [
        f"{k} {tuple(tensors[k].shape)} vs {tuple(v.shape)}"
        for k, v in target.items()
        if k in tensors and tensors[k].shape != v.shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append("shapes differ (checkpoint vs model): " + "; ".join(wrong[:4]))
        if missing:
            parts.append("missing keys: " + ", ".join(missing[:4]))
        if unexpected:
            parts.append("unexpected keys: " + ", ".join(unexpected[:4]))
        raise CheckpointError(
            f"checkpoint {str(path)!r} is from another architecture: " + "; ".join(parts)
        )
    plain_module(model).load_state_dict(tensors)


def load_state(path: str | Path, data: bytes | None = None) -> dict[str, Any]:
    """Load a training state (the file, or its bytes `data`) with weights_only=True:
    tensors and plain data, never arbitrary objects."""
    path = Path(path)
    if data is None and not path.is_file():
        raise CheckpointError(f"checkpoint state {str(path)!r} is missing")
    try:
        source = path if data is None else io.BytesIO(data)
        state = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"checkpoint state {str(path)!r} holds objects other than tensors "
            f"and plain data; refusing to load it"
        ) from None
    except Exception:
        raise CheckpointError(f"checkpoint state {str(path)!r} is truncated or corrupt") from None
    if not isinstance(state, dict) or "epoch" not in state:
        raise CheckpointError(f"checkpoint state {str(path)!r} is not a convlens training state")
    return state


# ----------------------------------------------------------------------------- the manifest
@dataclass(frozen=True)
class Manifest:
    """What checkpoint.json says: `files` maps a role (last, best, state) to (file, sha256)."""

    generation: int
    epoch: int
    batch: int
    files: dict[str, tuple[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "convlens_checkpoint": CHECKPOINT_FORMAT,
            "generation": self.generation,
            "epoch": self.epoch,
            "batch": self.batch,
            "files": {r: {"file": f, "sha256": s} for r, (f, s) in self.files.items()},
        }


def read_manifest(run_dir: str | Path) -> Manifest | None:
    """The run's checkpoint manifest; None when the run has no checkpoint yet.
    CheckpointError when the folder holds weight or state files that no manifest names:
    they are nobody's to overwrite or delete (see `check_no_orphans`)."""
    path = Path(run_dir) / MANIFEST
    try:
        raw = json.loads(path.read_bytes())
        if isinstance(raw, dict):
            check_format(path, raw, "convlens_checkpoint", CHECKPOINT_FORMAT)
        files = {
            str(role): (str(entry["file"]), str(entry["sha256"]))
            for role, entry in raw["files"].items()
        }
        manifest = Manifest(int(raw["generation"]), int(raw["epoch"]), int(raw["batch"]), files)
    except FileNotFoundError:
        legacy = _legacy_manifest(Path(run_dir))
        if legacy is None:
            check_no_orphans(run_dir)
        return legacy
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise CheckpointError(
            f"{str(path)!r} is not a readable checkpoint manifest; the run's checkpoint "
            f"cannot be trusted"
        ) from None
    plain = all(Path(f).name == f and not f.startswith(".") for f, _ in files.values())
    if not plain or not {"last", "state"} <= set(files) or not set(files) <= set(ROLES):
        raise CheckpointError(f"{str(path)!r} does not name a convlens checkpoint's files")
    return manifest


def _legacy_manifest(run_dir: Path) -> Manifest | None:
    """A run folder from before manifests, read through its checksums.json."""
    if not (run_dir / CHECKSUMS).exists():
        return None
    try:
        sums = json.loads((run_dir / CHECKSUMS).read_text())
        files = {
            role: (name, str(sums[name]))
            for role, name in (("last", LAST), ("best", BEST), ("state", STATE))
            if name in sums
        }
    except (OSError, ValueError, TypeError):
        raise CheckpointError(
            f"run folder {str(run_dir)!r} has no readable {CHECKSUMS}; "
            f"its checkpoints cannot be trusted"
        ) from None
    return Manifest(0, -1, -1, files)


def check_no_orphans(run_dir: str | Path) -> None:
    """CheckpointError when `run_dir` holds weight or state files but no manifest names
    them (checkpoint.json was lost or removed): training would start the run over and
    its first save would replace them, so nothing is touched and the user decides."""
    run_dir = Path(run_dir)
    try:
        names = _names(run_dir)
    except OSError:
        return
    orphans = [n for n in names if GENERATION_FILE.match(n) or n in (LAST, BEST, STATE)]
    if orphans:
        shown = ", ".join(orphans[:4]) + (f" and {len(orphans) - 4} more" if orphans[4:] else "")
        raise CheckpointError(
            f"run folder {str(run_dir)!r} holds weights or training state ({shown}) but no "
            f"{MANIFEST} to name and verify them; nothing was changed: restore {MANIFEST}, "
            f"or move those files away to start the run over"
        )


def has_checkpoint(run_dir: str | Path) -> bool:
    """True when the run folder holds a checkpoint (a manifest, or an old checksums.json)."""
    return (Path(run_dir) / MANIFEST).exists() or (Path(run_dir) / CHECKSUMS).exists()


def not_started(run_dir: str | Path) -> str:
    """What to say about a run folder without a checkpoint."""
    return (
        f"run folder {str(run_dir)!r} has no checkpoint: the run stopped before its first "
        f"epoch ended (see: convlens doctor {run_dir}); {start_again(run_dir)}"
    )


def read_checkpoint(
    run_dir: str | Path, roles: tuple[str, ...]
) -> tuple[Manifest, dict[str, bytes], dict[str, Path]]:
    """The verified bytes and paths of `roles` of one generation ("best" falls back to
    "last" before any epoch ended); CheckpointError when the run has no checkpoint or a
    file is missing or does not match its sha256."""
    run_dir = Path(run_dir)
    for _ in range(5):  # a training may replace the checkpoint while we read it
        manifest = read_manifest(run_dir)
        if manifest is None:
            raise CheckpointError(not_started(run_dir))
        data, paths = {}, {}
        try:
            for role in roles:
                name, digest = manifest.files.get(role) or manifest.files["last"]
                paths[role] = run_dir / name
                data[role] = paths[role].read_bytes()
                if hashlib.sha256(data[role]).hexdigest() != digest:
                    raise CheckpointError(
                        f"checkpoint {str(paths[role])!r} does not match its checksum "
                        f"(tampered, truncated, or written by something else)"
                    )
        except FileNotFoundError as exc:
            if read_manifest(run_dir) == manifest:
                raise CheckpointError(f"checkpoint {str(exc.filename)!r} is missing") from None
            continue  # a save went by: read the new generation
        return manifest, data, paths
    raise CheckpointError(f"run folder {str(run_dir)!r} changes faster than it can be read")


def checkpoint_file(run_dir: str | Path, role: str = "last") -> Path:
    """The verified file of `role` ("last", "best" or "state") of the run's checkpoint."""
    return read_checkpoint(run_dir, (role,))[2][role]


def load_run_state(run_dir: str | Path) -> dict[str, Any]:
    """The verified training state of the run's checkpoint."""
    _, data, paths = read_checkpoint(run_dir, ("state",))
    return load_state(paths["state"], data["state"])


# ----------------------------------------------------------------------------- saving
def save_checkpoint(
    run_dir: str | Path, model: nn.Module, state: dict[str, Any], *, best: bool = False
) -> Manifest:
    """Save a new generation: its weights (also the best, if `best`) and state, then the
    manifest that makes it the checkpoint, then delete what no manifest names."""
    run_dir = Path(run_dir)
    previous = read_manifest(run_dir)
    generation = 1 + max(
        [previous.generation if previous else 0]
        + [int(m[2]) for m in map(GENERATION_FILE.match, _names(run_dir)) if m]
    )
    files = {
        "last": _write(run_dir / f"weights.{generation}.safetensors", weights_bytes(model)),
        "state": _write(run_dir / f"state.{generation}.pt", _torch_bytes(state)),
    }
    if best:
        files["best"] = files["last"]
    elif previous is not None and "best" in previous.files:
        files["best"] = previous.files["best"]
    manifest = Manifest(generation, int(state["epoch"]), int(state.get("batch", 0)), files)
    _fsync_folder(run_dir)  # the new files' names are on disk before the manifest names them
    _write(run_dir / MANIFEST, (json.dumps(manifest.to_json(), indent=2) + "\n").encode())
    _fsync_folder(run_dir)  # the new manifest is on disk before anything is deleted
    named = {name for name, _ in files.values()}
    for name in _names(run_dir):
        old = GENERATION_FILE.match(name) or name in (LAST, BEST, STATE, CHECKSUMS)
        if (old or TEMP_FILE.match(name)) and name not in named:
            _remove(run_dir / name)
    return manifest


def _write(path: Path, data: bytes) -> tuple[str, str]:
    """Write `data` to `path` atomically and durably; (file name, sha256)."""
    atomic_write_bytes(path, data)
    return path.name, hashlib.sha256(data).hexdigest()


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the renames in `folder` durable (POSIX; elsewhere the OS decides)."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _names(folder: Path) -> list[str]:
    return sorted(os.listdir(folder))


def _torch_bytes(obj: Any) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def write_metrics(run_dir: str | Path, history: list[dict[str, Any]]) -> None:
    """metrics.csv and metrics.json, one row per epoch."""
    run_dir = Path(run_dir)
    atomic_write_json(run_dir / "metrics.json", history)
    out = io.StringIO()
    if history:
        writer = csv.DictWriter(out, fieldnames=list(history[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(history)
    atomic_write_text(run_dir / "metrics.csv", out.getvalue())
