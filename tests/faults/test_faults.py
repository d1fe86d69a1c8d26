"""The fault suite, short: the real `python -m bot run` against the fake Bot API, officers
filling forms through 3 `kill -9`s, a notice to 100 recipients with a kill while it goes out,
the same with SIGTERM (an upgrade: nothing lost, nothing twice, stopped within 10 s), and
every update delivered twice. The same code with big numbers: bench/bench_faults.py."""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.scenario import (
    Profile,
    broadcast_under_kills,
    forms_under_kills,
    print_table,
)

CI = Profile(officers=6, kills=3, kill_gap=(2.0, 4.0), recipients=100, broadcast_kills=1,
             replay_officers=3, replay_reports=2, patience=12.0)
# An upgrade in the middle of a notice: SIGTERM, then the new process finishes it.
SIGTERM = Profile(officers=0, recipients=60, broadcast_kills=1, patience=12.0, seed=20,
                  graceful=True)


@pytest.mark.alone("real bot processes killed on a timetable, sized for two cores")
async def test_nothing_lost_nothing_twice_nothing_in_the_wrong_field(tmp_path):
    folders = [tmp_path / name for name in ("forms", "broadcast", "replay", "sigterm")]
    for folder in folders:
        folder.mkdir()
    # The runs are independent (each its own fake API, bot process and database).
    rows = await asyncio.gather(forms_under_kills(folders[0], CI),
                                broadcast_under_kills(folders[1], CI),
                                forms_under_kills(folders[2], CI, replay=True))
    # After them, not alongside: on two cores a fourth run would crowd the first three.
    rows.append(await broadcast_under_kills(folders[3], SIGTERM))
    print_table(rows)
    for row in rows:  # the harness itself worked: people registered and reports were stored
        assert not row.counts.get("registrations failed"), row
    assert rows[0].counts["reports stored"] >= CI.officers
    assert rows[2].counts["reports stored"] >= CI.replay_officers
    missed = [f"{row.scenario}: {miss}" for row in rows for miss in row.failures()]
    assert not missed, "\n".join(missed)
