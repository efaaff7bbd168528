"""`make bench`: run every benchmark, print each figure beside its baseline, write RESULTS.md.

Benchmarks are registered explicitly in :data:`BENCHMARKS` (name → module with ``run(args)``
returning a list of :class:`bench.common.Figure`). Run one with ``make bench BENCH_ARGS=name``.
"""

from __future__ import annotations

import importlib
import sys

from bench.common import Figure, write_results

#: name → module path; each module has ``run(argv: list[str]) -> list[Figure]``.
BENCHMARKS: dict[str, str] = {
    "dashboards": "bench.dashboards",
    "lists": "bench.lists",
    "hostile": "bench.hostile",
    "dispatch": "bench.dispatch",
    "dispatch_rate": "bench.dispatch_rate",
    "bulk": "bench.bulk",
    "tickets_page": "bench.tickets_page",
    "ingest": "bench.ingest",
}


def main(argv: list[str]) -> int:
    selected = [a for a in argv if not a.startswith("-")] or list(BENCHMARKS)
    unknown = [name for name in selected if name not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS) or 'none'}"
        )
        return 2
    figures: list[Figure] = []
    for name in selected:
        print(f"== {name}", flush=True)
        module = importlib.import_module(BENCHMARKS[name])
        result = module.run([a for a in argv if a.startswith("-")])
        for figure in result:
            print("  " + figure.row(), flush=True)
        figures += result
    if not BENCHMARKS:
        print("No benchmarks registered yet.")
    print(write_results(figures))
    return 1 if any(f.ok is False for f in figures) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
