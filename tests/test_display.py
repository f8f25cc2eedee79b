"""Console output: progress in a terminal and in a log."""

import io

from rich.console import Console

from keras_evomt import display


def test_progress_in_a_log_is_one_line_a_minute_at_most(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(display, "console", Console(file=out, force_terminal=False, width=200))
    monkeypatch.setattr(display, "_last_logged_progress", 0.0)
    display.progress("digits gen 1 cand 1 step 10/120 loss 2.000 ETA 60s")
    display.progress("digits gen 1 cand 1 step 20/120 loss 1.500 ETA 50s")  # within the minute
    assert out.getvalue().splitlines() == ["digits gen 1 cand 1 step 10/120 loss 2.000 ETA 60s"]
    monkeypatch.setattr(display, "_last_logged_progress", display._last_logged_progress - 61)
    display.progress("digits gen 1 cand 1 step 90/120 loss 0.500 ETA 10s")
    assert out.getvalue().splitlines()[-1] == "digits gen 1 cand 1 step 90/120 loss 0.500 ETA 10s"
    assert len(out.getvalue().splitlines()) == 2


def test_progress_in_a_terminal_overwrites_one_line(monkeypatch):
    out = io.StringIO()
    monkeypatch.setattr(display, "console", Console(file=out, force_terminal=True, width=200))
    for step in (10, 20):
        display.progress(f"digits step {step}/120")
    assert out.getvalue().count("\r") == 2 and "\n" not in out.getvalue()
