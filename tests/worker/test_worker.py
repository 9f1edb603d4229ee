"""Two workers on one database: one leads, the other stands by and takes over when the leader dies."""

import signal
import time

from tests.procs import wait_for, worker


def test_one_leader_and_takeover_after_the_leader_is_killed():
    first, second = worker(), worker()
    try:
        assert wait_for(lambda: first.leads() or second.leads(), 60), first.lines + second.lines
        time.sleep(2)  # give the standby several chances to (wrongly) take the lock too
        assert [first.leads(), second.leads()].count(True) == 1, first.lines + second.lines
        leader, standby = (first, second) if first.leads() else (second, first)
        leader.stop(signal.SIGKILL)  # no clean shutdown: the lock must go with the process
        assert wait_for(standby.leads, 30), standby.lines
    finally:
        first.stop()
        second.stop()
    assert any("worker stopped" in line for line in standby.lines)
