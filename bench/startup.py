"""How long does the `convlens` command take to answer --help? One table, beside torch.

Each row is a fresh process, timed from start to exit (median of 5, and the peak memory of
the process, its maximum resident set), so it counts Python's own start-up too. `convlens
--help`, `convlens train --help` and an argument error answer without importing torch (the
argparse tree is built from torch-free modules: `convlens.config`, `convlens.cli.flags`,
`convlens.look.kinds`); `python -c "import torch"` is the price they no longer pay.

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from machine import describe

REPEATS = 5
ROWS = (
    ("python -c pass", ["-c", "pass"]),
    ("convlens --help", ["-m", "convlens", "--help"]),
    ("convlens train --help", ["-m", "convlens", "train", "--help"]),
    ("convlens train --epochs x (argument error)", ["-m", "convlens", "train", "--epochs", "x"]),
    ('python -c "import torch"', ["-c", "import torch"]),
)


def run_once(args: list[str]) -> tuple[float, float, float]:
    """Wall seconds from start to exit, CPU seconds (user + system: less sensitive to other
    jobs on the machine than the wall time) and the peak resident memory in MB of one
    process."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _, _, usage = os.wait4(proc.pid, 0)  # this child's own resource use
    seconds = time.perf_counter() - start
    proc.returncode = 0  # reaped here; keeps Popen from waiting on it again
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    print(f"start-up to exit, median of {REPEATS} fresh processes; {describe()}")
    print()
    print("| command | median s | min s | median CPU s | peak MB |")
    print("|---|---:|---:|---:|---:|")
    for name, args in ROWS:
        runs = [run_once(args) for _ in range(REPEATS)]
        wall = [r[0] for r in runs]
        cpu = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        print(
            f"| {name} | {statistics.median(wall):.3f} | {min(wall):.3f} | {cpu:.3f} | {peak:.0f} |"
        )


if __name__ == "__main__":
    main()
