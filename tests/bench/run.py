"""`make bench`: every benchmark, one after the other, each in its own process (never
concurrently: 2 cores; and a benchmark's memory figure must not include its predecessors').

Each benchmark prints its own figures, with the baseline it is compared to measured in the
same run. Pass `--only NAME` (repeatable) to run some; arguments after `--` go to each.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

BENCHES = {
    "api": "tests.bench.api_bench",
    "ingest": "tests.bench.ingest_bench",
    "status": "tests.bench.status_load_bench",  # GET /v1/problems/{id} at 200/s while ingesting
    "vector": "tests.bench.vector_bench",
    "content": "tests.bench.content_bench",
    "render": "tests.bench.shorts_bench",  # render time, voices, captions, motion, sound
    "stats": "tests.bench.stats_bench",
    "live": "tests.bench.live_bench",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    args, extra = parser.parse_known_args()
    extra = extra[1:] if extra[:1] == ["--"] else extra
    failed = []
    for name in args.only or list(BENCHES):
        print(f"\n=== {name} ===", flush=True)
        code = subprocess.run([sys.executable, "-m", BENCHES[name], *extra], check=False).returncode
        if code != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
