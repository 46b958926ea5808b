"""Progress in a log: plain lines, never a bar's carriage returns."""

import time

from vamer.progress import tracked


def test_tracked_items_in_a_log_are_counted_in_plain_lines(capfd):
    def slow(n):
        for item in range(n):
            time.sleep(0.01)
            yield item

    assert list(tracked(slow(30), "steps", 30)) == list(range(30))
    said = capfd.readouterr().err
    assert "\r" not in said
    assert said.splitlines()[0] == "steps: 1 of 30" and said.splitlines()[-1].startswith("steps: 30 of 30")
