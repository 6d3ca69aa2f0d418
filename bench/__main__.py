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
        write_results(sections)


def write_results(sections: list[str]) -> None:
    """Replace the sections just measured and keep the others, so one suite can be re-run alone;
    each section says when it was measured."""
    kept: dict[str, str] = {}
    if RESULTS.exists():
        for part in RESULTS.read_text().split("\n## ")[1:]:
            kept[part.split()[0]] = "## " + part.rstrip("\n") + "\n"
    for section in sections:
        name = section.split()[1]
        kept[name] = section.replace(f"## {name}\n", f"## {name}\n\nMeasured {today()}.\n", 1)
    RESULTS.write_text(
        f"# Benchmark results\n\n{machine()}. `make bench` runs every suite; `python -m bench "
        "SUITE` re-measures one and replaces its section.\n"
        "Each figure is measured beside its raw nats-py baseline in the same run.\n\n"
        + "\n".join(kept.values())
    )


if __name__ == "__main__":
    main()
