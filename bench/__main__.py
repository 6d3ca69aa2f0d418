"""``make bench``: run every benchmark, print one table, and record it in ``bench/RESULTS.md``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
from pathlib import Path

from bench.harness import HEADER, machine, today

FIRST = ["bench.spine", "bench.sites"]  # then every other bench module that has run()
HELPERS = {"bench.harness", "bench.fieldevents"}


def suites() -> list[str]:
    import pkgutil

    import bench

    others = sorted(
        f"bench.{m.name}"
        for m in pkgutil.iter_modules(bench.__path__)
        if f"bench.{m.name}" not in {*FIRST, *HELPERS} and not m.name.startswith("_")
    )
    return FIRST + others


RESULTS = Path(__file__).with_name("RESULTS.md")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("suites", nargs="*", help="which suites (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not update bench/RESULTS.md")
    args = parser.parse_args()
    chosen = [s for s in suites() if not args.suites or s.split(".")[-1] in args.suites]
    sections = []
    for name in chosen:
        module = importlib.import_module(name)
        rows = asyncio.run(module.run())
        body = "\n".join(r.line() for r in rows)
        notes = getattr(module, "NOTES", "")
        section = f"## {name.split('.')[-1]}\n\n{HEADER}\n{body}\n"
        if notes:
            section += f"\n{notes}\n"
        print(section, flush=True)
        sections.append(section)
    if not args.no_write and sections:
        RESULTS.write_text(
            f"# Benchmark results\n\nLatest `make bench` run: {today()}, {machine()}.\n"
            "Each figure is measured beside its raw nats-py baseline in the same run.\n\n"
            + "\n".join(sections)
        )


if __name__ == "__main__":
    main()
