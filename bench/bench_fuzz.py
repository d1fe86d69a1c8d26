"""The fuzzer of tests/test_fuzz.py with bigger numbers: every state of every role fed random
unicode, commands with arguments, forged button data and files through the real Application.

Prints examples and inputs run, states covered, exceptions, silent updates and messages Telegram
would refuse, with each distinct problem once.

    python bench/bench_fuzz.py [--per-state 200] [--inputs 3] [--seed 0] [--roles officer,admin]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import fuzzing  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-state", type=int, default=200, help="examples per state")
    parser.add_argument("--inputs", type=int, default=3, help="at most this many inputs each")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--roles", default=",".join(fuzzing.ROLES))
    parser.add_argument("--quiet", action="store_true", help="no line per state")
    args = parser.parse_args()
    roles = tuple(args.roles.split(","))

    def progress(state: fuzzing.State, stats: fuzzing.Stats) -> None:
        if not args.quiet:
            print(f"{len(stats.states):4} states, {stats.inputs:6} inputs, "
                  f"{len(stats.findings):5} problems · {state.label}", file=sys.stderr)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        stats = fuzzing.run(Path(folder), args.per_state, args.inputs, args.seed, roles,
                            progress)
    seconds = time.perf_counter() - started
    total = len([s for s in fuzzing.build_states() if s.role in roles])
    print(f"states {len(stats.states)}/{total}, {stats.inputs / seconds:.0f} inputs/s, "
          f"{seconds:.0f} s")
    print(stats.summary())


if __name__ == "__main__":
    main()
