"""Progress bars: tqdm's bar on a terminal, plain spaced lines elsewhere, nothing for a
short run."""

import io
import time

from arbitrary_style import progress_bar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_short_run_off_a_terminal_prints_nothing():
    log = io.StringIO()
    for _ in progress_bar.bar(range(5), file=log, unit="image"):
        pass
    assert log.getvalue() == ""


def test_a_long_run_off_a_terminal_prints_spaced_whole_lines():
    log = io.StringIO()
    items = progress_bar.bar(range(8), file=log, interval=0.05, unit="frame", desc="clip.mp4")
    for item in items:
        items.set_postfix_str(f"item {item}")  # tqdm redraws here on a terminal.
        time.sleep(0.02)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert 2 <= len(lines) <= 5, lines  # About one per 0.05 s of a 0.16 s run, plus the last.
    assert all(line.startswith("clip.mp4:") for line in lines)
    assert "8/8" in lines[-1] and "item 7" in lines[-1]


def test_messages_written_through_the_bar_stay_whole():
    log = io.StringIO()
    items = progress_bar.bar(range(3), file=log, interval=0.05)
    for _ in items:
        items.write("error: bad image", file=log)
        time.sleep(0.03)
    assert "\r" not in log.getvalue()
    assert log.getvalue().splitlines().count("error: bad image") == 3


def test_a_terminal_gets_the_redrawn_bar():
    terminal = Terminal()
    for _ in progress_bar.bar(range(3), file=terminal, mininterval=0):
        pass
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()
