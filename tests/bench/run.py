"""`make bench`: every benchmark, one after the other (never concurrently: 2 cores).

Each benchmark prints its own figures, with the baseline it is compared to measured in the
same run. Pass `--only api|ingest|vector|content|render|stats` to run one.
"""

from __future__ import annotations

import argparse

from tests.bench import (
    api_bench,
    content_bench,
    ingest_bench,
    render_bench,
    stats_bench,
    vector_bench,
)

BENCHES = {
    "api": api_bench.main,
    "ingest": ingest_bench.main,
    "vector": vector_bench.main,
    "content": content_bench.main,
    "render": render_bench.main,
    "stats": stats_bench.main,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    args = parser.parse_args()
    for name in args.only or list(BENCHES):
        print(f"\n=== {name} ===", flush=True)
        BENCHES[name]([])


if __name__ == "__main__":
    main()
