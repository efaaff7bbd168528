"""Files built to exhaust memory or time (issue 14.3, 14.4): seconds and peak memory per file,
beside the naive reader they were built against.

Each file (``tests.fixtures.lists.hostile``: a 1.5 KB ``.xlsx`` declaring and filling
``XFD1048576``, an 8,000,000-row ``.xlsx``, 30,000 headers named ``x``, one 50 MB line of
``x,x,…``) is read in a fresh process by ``read_list`` with the default limits — what
``hde validate`` and the console upload run — and its wall time and peak RSS are taken
from the process itself (``wait4``). The naive baseline is the reader before the limits
(openpyxl's read-only ``iter_rows`` trusting the declared dimension, every cell made text; the header numbered
by searching ``x (2)``, ``x (3)`` … for every column), run under a 5 s / 2 GB cap so the
case stays short: a baseline that hits the cap is reported at the cap.

Targets: refused (one line) or read, in ≤ 10 s and ≤ 500 MB.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import Figure

OUT = Path(__file__).resolve().parent / "out" / "hostile"
NAIVE_SECONDS = 5.0
NAIVE_BYTES = 2 * 1024**3


def _cases() -> list[tuple[str, str, Callable[[], bytes]]]:
    from tests.fixtures.lists.hostile import (
        dimension_bomb_xlsx,
        many_rows_xlsx,
        repeated_headers_csv,
        single_line_csv,
    )

    return [
        ("dimension bomb .xlsx (A1:XFD1048576)", "bomb.xlsx", dimension_bomb_xlsx),
        ("8,000,000-row .xlsx", "rows.xlsx", lambda: many_rows_xlsx(8_000_000)),
        ("30,000 headers named x (.csv)", "headers.csv", repeated_headers_csv),
        ("50 MB single line (.csv)", "line.csv", lambda: single_line_csv(50)),
        ("200,000-row .xlsx within the limits", "fine.xlsx", lambda: many_rows_xlsx(200_000)),
    ]


def _product(path: Path) -> None:
    """The product path in this (fresh) process; prints what happened as JSON."""
    from hde_core.errors import InputError
    from hde_core.lists.reading import read_list

    started = time.perf_counter()
    try:
        raw = read_list(path)
        outcome = f"read: {raw.table.num_rows:,} rows × {len(raw.headers):,} columns"
    except InputError as exc:
        outcome = "refused: " + exc.message("en")
    _report(started, outcome)


def _report(started: float, outcome: str) -> None:
    seconds = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss, "outcome": outcome}))


def _naive_headers(names: list[str]) -> list[str]:
    """The header numbering before 14.4: every repeat searches ``x (2)``, ``x (3)`` … anew."""
    out: list[str] = []
    seen: set[str] = set()
    for i, name in enumerate(names, start=1):
        base = name.strip() or f"column_{i}"
        candidate, k = base, 2
        while candidate.casefold() in seen:
            candidate, k = f"{base} ({k})", k + 1
        seen.add(candidate.casefold())
        out.append(candidate)
    return out


def _naive(path: Path) -> None:
    """The reader before the limits (see the module docstring)."""
    started = time.perf_counter()
    if path.suffix == ".xlsx":
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        rows = [  # as the reader before 14.3 did: every cell as text
            tuple("" if v is None else str(v) for v in row)
            for row in workbook.worksheets[0].iter_rows(values_only=True)
        ]
        outcome = f"read {len(rows):,} rows"
    else:
        text = path.read_bytes()[: 1024 * 1024].decode()
        first = next(csv.reader(io.StringIO(text)), [])
        outcome = f"numbered {len(_naive_headers(first)):,} headers"
    _report(started, outcome)


def _measure(mode: str, path: Path, cap: float | None) -> tuple[float, float | None, str]:
    """(seconds, peak RSS MB, outcome) of ``mode`` on ``path`` in a fresh process; the
    process reports its own figures (its peak RSS includes the interpreter and imports)."""

    def limit() -> None:
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (NAIVE_BYTES, NAIVE_BYTES))

    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.hostile", mode, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=root,
        preexec_fn=limit,  # noqa: PLW1509 - a resource limit for this child only
    )
    try:
        out, err = child.communicate(timeout=cap)
    except subprocess.TimeoutExpired:
        peak = _peak_mb(child.pid)
        child.kill()
        child.communicate()
        return cap or 0.0, peak, f"stopped at the {cap:.0f} s cap"
    seconds = time.perf_counter() - started
    if child.returncode != 0:
        last = (err.decode(errors="replace").strip().splitlines() or ["?"])[-1]
        return seconds, None, f"failed after {seconds:.1f} s: {last[:100]}"
    result = json.loads(out.decode().strip().splitlines()[-1])
    return float(result["seconds"]), float(result["rss_mb"]), str(result["outcome"])


def _peak_mb(pid: int) -> float | None:
    """A running process's peak RSS so far (Linux ``VmHWM``), before it is stopped."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def run(argv: list[str]) -> list[Figure]:
    argparse.ArgumentParser(prog="bench hostile").parse_known_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    for label, file_name, make in _cases():
        path = OUT / file_name
        path.write_bytes(make())
        size = path.stat().st_size
        seconds, rss, outcome = _measure("--product", path, None)
        naive_s, naive_rss, naive_outcome = _measure("--naive", path, NAIVE_SECONDS)
        ok = rss is not None and seconds <= 10 and rss <= 500
        ok = ok and outcome.startswith(("refused", "read"))
        naive_mem = f" ({naive_rss:,.0f} MB)" if naive_rss is not None else ""
        print(
            f"  {label} ({size / 1024:,.1f} KB): {seconds:.2f} s, peak RSS {rss or 0:,.0f} MB"
            f" — {outcome}\n    naive: {naive_s:.2f} s — {naive_outcome}{naive_mem}",
            flush=True,
        )
        figures.append(
            Figure(
                "hostile",
                f"{label}, {size / 1024:,.1f} KB",
                seconds,
                "s",
                baseline=naive_s,
                target="refused or read, ≤ 10 s, ≤ 500 MB",
                ok=ok,
                peak_rss_mb=rss,
                note=f"{outcome.split(':')[0]}; naive: {naive_outcome}{naive_mem}",
                lower_is_better=True,
            )
        )
        path.unlink()
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--product"]:
        _product(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["--naive"]:
        _naive(Path(sys.argv[2]))
    else:
        for f in run(sys.argv[1:]):
            print(f.row())
