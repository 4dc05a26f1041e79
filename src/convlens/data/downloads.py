"""Where downloads go and how their failures read: the one place that knows about
$CONVLENS_OFFLINE and $CONVLENS_DATA (the data sets themselves live in `sources.py`)."""

from __future__ import annotations

import os
import re
from pathlib import Path


def offline() -> bool:
    """True when convlens must not download (CONVLENS_OFFLINE=1, as in the tests)."""
    return os.environ.get("CONVLENS_OFFLINE", "") not in ("", "0")


def offline_note() -> str:
    """What to add to a 'files not found' message when downloads are switched off."""
    return " (CONVLENS_OFFLINE is set, so convlens did not try to download)" if offline() else ""


def reason(exc: BaseException) -> str:
    """One short line for a failed download: torchvision's own text lists every mirror it
    tried, with the same network error on several lines."""
    text = str(exc)
    network = re.search(r"<urlopen error (?:\[Errno [-\d]+\] )?(.+?)>", text)
    if network:
        return f"no connection: {network.group(1)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:160] if lines else type(exc).__name__


def download_root(where: str | None) -> Path:
    """Where downloads go: `where`, else $CONVLENS_DATA, else ~/.cache/convlens."""
    return (
        Path(where)
        if where
        else Path(os.environ.get("CONVLENS_DATA", Path.home() / ".cache" / "convlens"))
    )
