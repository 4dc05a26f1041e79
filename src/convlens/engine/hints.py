"""What to tell a user to do with a run folder: the words every door (the CLI, `cl.*`, the
doctor, a failed save, Ctrl-C) uses, so they say the same thing."""

from __future__ import annotations

from pathlib import Path

__all__ = ["resume_hint", "start_again"]


def resume_hint(run_dir: str | Path) -> str:
    """How to continue a run, from the shell and from Python (every door says both)."""
    return (
        f"convlens train --resume {run_dir} (Python: cl.train(out={str(run_dir)!r}, resume=True))"
    )


def start_again(run_dir: str | Path) -> str:
    """What to do with a run that stopped before its first checkpoint (`train` refusing its
    folder and the doctor say these words)."""
    return (
        f"start it again with its saved settings: {resume_hint(run_dir)}; or, for new "
        f"settings, remove that folder first"
    )
