"""Run every benchmark in turn (`make bench`), or only those named (`make bench B=audit_append`).

The arguments here keep a full run near half an hour on 2 cores; each module documents the
larger runs recorded in docs/benchmarks.md. `make bench` installs LiteLLM, the gateway's
side-by-side reference, into its own environment under benchmarks/out/ first.
"""

from __future__ import annotations

import subprocess
import sys

RUNS: dict[str, list[str]] = {
    "policy_eval": [],
    "screening_precision": [],
    "classifier_latency": [],
    "audit_append": [],
    "audit_verify": ["--sizes", "100000"],
    "audit_proofs": ["--max", "1000000", "--budget", "300"],
    "gateway_overhead": ["--quick", "--llama", "--litellm", "benchmarks/out/litellm/bin/litellm"],
}


def main(names: list[str]) -> int:
    unknown = [name for name in names if name not in RUNS]
    if unknown:
        print(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(RUNS)}")
        return 2
    failed = 0
    for name in names or list(RUNS):
        print(f"\n=== benchmarks.{name} {' '.join(RUNS[name])}", flush=True)
        failed += subprocess.call([sys.executable, "-m", f"benchmarks.{name}", *RUNS[name]]) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
