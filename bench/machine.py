"""One line that says which machine a bench table was measured on.

Speed on a CPU depends on more than its core count: the same 2-core VM type has come with
processors whose bfloat16 matmul differs 2x (AMX tiles on some Intel Xeons, AVX-512 BF16 only
on AMD EPYC), so every table names the processor and its bfloat16 instructions.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def cpu() -> str:
    """The processor's model name and the bfloat16 instructions it offers, e.g.
    'AMD EPYC (avx512_bf16)' or 'Intel Xeon ... (amx_bf16, avx512_bf16)'."""
    name, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                name = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    bf16 = sorted(f for f in flags if f in ("amx_bf16", "avx512_bf16", "avx_vnni"))
    return f"{name} ({', '.join(bf16) or 'no bfloat16 instructions'})"


def describe(threads: int | None = None) -> str:
    """'2026-12-04, AMD EPYC (avx512_bf16), 2 CPUs' (+ ', N threads' when given)."""
    line = f"{time.strftime('%Y-%m-%d')}, {cpu()}, {os.cpu_count()} CPUs"
    return line + (f", {threads} threads" if threads is not None else "")
