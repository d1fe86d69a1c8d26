"""The fault suite with big numbers: the real `python -m bot run` against a fake Bot API with
Telegram's offset rule, officers filling forms while the bot is killed with SIGKILL and
restarted, a notice to many recipients with kills while it goes out, and every update delivered
twice. Prints the figures and whether the bars are met.

    python bench/bench_faults.py [--officers 32] [--kills 40] [--recipients 2000]
                                 [--broadcast-kills 3] [--only forms|broadcast|replay]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.faults.scenario import (  # noqa: E402
    Profile,
    broadcast_under_kills,
    forms_under_kills,
    print_table,
)


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--officers", type=int, default=32)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--broadcast-kills", type=int, default=3)
    parser.add_argument("--replay-officers", type=int, default=16)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--only", choices=["forms", "broadcast", "replay"])
    args = parser.parse_args()
    profile = Profile(officers=args.officers, kills=args.kills, recipients=args.recipients,
                      broadcast_kills=args.broadcast_kills, replay_officers=args.replay_officers,
                      patience=20.0, seed=args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        if args.only in (None, "forms"):
            (Path(folder) / "forms").mkdir()
            rows.append(await forms_under_kills(Path(folder) / "forms", profile))
        if args.only in (None, "broadcast"):
            (Path(folder) / "broadcast").mkdir()
            rows.append(await broadcast_under_kills(Path(folder) / "broadcast", profile))
        if args.only in (None, "replay"):
            (Path(folder) / "replay").mkdir()
            rows.append(await forms_under_kills(Path(folder) / "replay", profile, replay=True))
    print_table(rows)
    return 1 if any(row.failures() for row in rows) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
