"""Shared benchmark plumbing: a figure, peak memory, and the RESULTS.md writer."""

from __future__ import annotations

import json
import platform
import resource
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: Figures per benchmark with the date they were measured; RESULTS.md is rendered from it, so
#: running one benchmark keeps the others' latest figures.
RESULTS_JSON = Path(__file__).resolve().parent / "results.json"


@dataclass
class Figure:
    """One measured figure beside its naive baseline."""

    benchmark: str
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    target: str = ""
    ok: bool | None = None
    peak_rss_mb: float | None = None
    note: str = ""
    #: True for durations (seconds): the ratio is then baseline / value, so "10×" always
    #: means ten times better than the naive baseline.
    lower_is_better: bool = False

    @property
    def ratio(self) -> float | None:
        if not self.baseline or not self.value:
            return None
        if self.lower_is_better:
            return self.baseline / self.value
        return self.value / self.baseline

    def row(self) -> str:
        ratio = f"{self.ratio:.1f}× better" if self.ratio is not None else "—"
        base = f"{self.baseline:,.2f}" if self.baseline is not None else "—"
        rss = f"{self.peak_rss_mb:,.0f}" if self.peak_rss_mb is not None else "—"
        ok = {True: "✅", False: "❌", None: ""}[self.ok]
        return (
            f"| {self.benchmark} | {self.metric} | {self.value:,.2f} {self.unit} | {base} | {ratio} | "
            f"{rss} | {self.target} {ok} | {self.note} |"
        )


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_results(figures: list[Figure], extra: str = "") -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{platform.node() or 'unknown'} ({platform.machine()}, {platform.python_implementation()} {platform.python_version()})"
    stored: dict[str, dict] = json.loads(RESULTS_JSON.read_text()) if RESULTS_JSON.exists() else {}
    for name in {f.benchmark for f in figures}:
        stored[name] = {
            "date": now,
            "machine": machine,
            "figures": [asdict(f) for f in figures if f.benchmark == name],
        }
    RESULTS_JSON.write_text(
        json.dumps(stored, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    lines = [
        "# Benchmark results",
        "",
        "Produced by `make bench` (one benchmark: `make bench BENCH_ARGS=<name>`). Each figure is",
        "printed beside a naive baseline measured in the same run; the ratio is value / baseline.",
        "",
    ]
    for name, entry in sorted(stored.items()):
        lines += [
            f"## {name}",
            "",
            f"Measured {entry['date']} on {entry['machine']}.",
            "",
            "| benchmark | metric | value | naive baseline | ratio | peak RSS MB | target | notes |",
            "|---|---|---|---|---|---|---|---|",
            *[Figure(**f).row() for f in entry["figures"]],
            "",
        ]
    if extra:
        lines += [extra, ""]
    text = "\n".join(lines)
    RESULTS.write_text(text, encoding="utf-8")
    return text
