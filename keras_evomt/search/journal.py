"""`DIR/search/candidates.jsonl`: one JSON line per finished candidate.

Lines are appended (and synced) before the commit that concludes their generation,
and the committed search state records the file's length. On opening, the file is
cut back to that length: lines of a generation whose commit a crash prevented (or a
partly written line) disappear, and the resumed search writes them again. So the
file always holds exactly the candidates of the committed state.

Each line: task, generation, candidate (index in its generation), id, parent,
hparams, quality (the kept round's) and quality_rule (its `score.quality`),
validation_accuracy, validation_loss (when finite), score, joined (entered the
population), seconds, steps, accounted_params, image_size, `head_init` for a candidate
whose new head started as a ridge classifier (`mutation.head_init = "ridge"`: examples,
left_out_accuracy, logit_scale; search/head_init.py), and `failed` (the reason) for a
candidate that failed. A source probe (`parents.seed_order = "probe"`,
search/probe.py) is a line with `probe: true`, and no id and no `joined`: task,
generation, rank, parent (the source probed), quality (the probe's accuracy), score
(what ranked it), probe_loss, probe_examples and probe_validation_examples (the examples
sampled), probe_estimate (how the accuracy was measured: "holdout" or "leave_one_out"),
image_size, seconds, steps (0).

Example:
    journal = CandidateJournal("runs/demo/search/candidates.jsonl")
    journal.truncate(0)
    size = journal.append([{"task": "digits", "id": "digits#0", "quality": 0.9}])
    [r["id"] for r in journal.read()]  # ['digits#0']
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any


class CandidateJournal:
    """The append-only candidate log of one work directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = os.fspath(path)

    def truncate(self, size: int) -> None:
        """Cuts the file back to `size` bytes (the committed length), if it exists."""
        if not os.path.exists(self.path):
            return
        with open(self.path, "r+b") as f:
            if f.seek(0, os.SEEK_END) > size:
                f.truncate(size)
                os.fsync(f.fileno())

    def append(self, records: Iterable[dict[str, Any]]) -> int:
        """Appends one line per record, synced to disk; returns the file's new length."""
        text = "".join(json.dumps(r, sort_keys=True, default=_plain) + "\n" for r in records)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        with open(self.path, "ab") as f:
            f.write(text.encode())
            f.flush()
            os.fsync(f.fileno())
            return f.tell()

    def read(self) -> list[dict[str, Any]]:
        """Every record, oldest first ([] if there is no file)."""
        if not os.path.exists(self.path):
            return []
        with open(self.path, encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]


def is_probe(record: dict[str, Any]) -> bool:
    """Whether a journal line is a source probe rather than a trained candidate."""
    return bool(record.get("probe"))


def _plain(value: Any) -> Any:
    """NumPy scalars (from metrics) as Python numbers."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
