"""What a running search reports: TensorBoard logs under DIR/tb/ and console lines.

TensorBoard: per candidate (run tb/<task>/<last>_<n> for candidate <task>#<n>, <last> the
last part of the task's name; an unnamed
`npz:` or `dir:` task's folder is `workdir.tb_run_name`'s) the training loss, accuracy
and learning rate, validation accuracy per round, and its hyperparameters through
the HParams plugin; per task (run tb/<task>) the best score by generation, the
test accuracy and `task/params_added`, what the iteration added to the system (0 when the
kept path stays, below 0 when a leaner path replaces it); the system's growth (run
tb/system).

Example:
    observer = Observer("runs/demo")
    log = observer.candidate_started("digits", "digits#3", label="digits", step_total=200)
    log.step(10, lr=0.01, loss=2.3, accuracy=0.1)
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any

import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

from keras_evomt import display
from keras_evomt.workdir import WorkdirLayout


class Observer:
    """Writes TensorBoard summaries and prints progress; one per search."""

    def __init__(
        self, workdir: str | os.PathLike, *, quiet: bool = False, log_every_steps: int = 10
    ):
        self.layout = WorkdirLayout(workdir)
        self.quiet = quiet
        self.log_every_steps = max(1, log_every_steps)
        self._writers: dict[str, Any] = {}
        self._announced = False

    def _writer(self, folder) -> Any:
        run = os.fspath(folder)
        if run not in self._writers:
            self._writers[run] = tf.summary.create_file_writer(run)
        return self._writers[run]

    def candidate_started(
        self,
        task: str,
        candidate_id: str,
        *,
        label: str,
        step_total: int,
        training: bool = False,
    ) -> CandidateLog:
        """A log for one candidate (its own TensorBoard run; safe to use from a thread).
        The first one says where the logs are. `training`: the candidate trains from its
        first step now, so what an earlier, killed attempt logged in its run is removed
        (a resumed candidate's curves would otherwise run twice over the same steps)."""
        if not self._announced:
            self._announced = True
            self.message(f"TensorBoard: tensorboard --logdir {self.layout.tb}")
        run = os.fspath(self.layout.tb_candidate(task, candidate_id))
        if training:
            for events in glob.glob(os.path.join(glob.escape(run), "events.out.tfevents.*")):
                os.remove(events)
        return CandidateLog(
            self, tf.summary.create_file_writer(run), candidate_id, label, step_total
        )

    # === Generations, tasks, the system ===
    def generation_finished(self, task: str, candidates: int, best_score: float) -> None:
        """`candidates`: the task's candidates so far over all its visits (the step, so
        that a revisit's points follow the first visit's)."""
        writer = self._writer(self.layout.tb_task(task))
        with writer.as_default(step=candidates):
            tf.summary.scalar("search/best_score", best_score)
        writer.flush()

    def task_finished(
        self,
        task: str,
        metrics: dict[str, Any],
        params_added: int,
        total_params: int,
        num_tasks: int,
        *,
        task_candidates: int = 0,
        all_candidates: int | None = None,
    ) -> None:
        """Steps: the task's candidates so far (its run), every task's (the system's run;
        by default the number of tasks), so that revisits add points rather than repeat."""
        with self._writer(self.layout.tb_task(task)).as_default(step=task_candidates):
            for key, value in metrics.items():
                if isinstance(value, int | float):
                    tf.summary.scalar(f"task/{key}", value)
            tf.summary.scalar("task/params_added", params_added)
        system_step = num_tasks if all_candidates is None else all_candidates
        with self._writer(self.layout.tb_system).as_default(step=system_step):
            tf.summary.scalar("system/unique_params", total_params)
            tf.summary.scalar("system/tasks", num_tasks)
        self.flush()
        if not self.quiet:
            display.task_line(task, metrics, params_added, total_params)

    def message(self, text: str) -> None:
        if not self.quiet:  # one line however long: logs stay greppable
            display.console.print(text, soft_wrap=True)

    def flush(self) -> None:
        for writer in self._writers.values():
            writer.flush()

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


class CandidateLog:
    """TensorBoard scalars and console progress of one candidate."""

    def __init__(self, observer: Observer, writer, candidate_id: str, label: str, step_total: int):
        self.observer, self.writer, self.id = observer, writer, candidate_id
        self.label, self.total = label, max(1, step_total)
        self.started = time.perf_counter()

    def step(self, step: int, lr: float, loss, accuracy) -> None:
        if step % self.observer.log_every_steps and step != self.total:
            return
        with self.writer.as_default(step=step):
            tf.summary.scalar("train/loss", loss)
            tf.summary.scalar("train/accuracy", accuracy)
            tf.summary.scalar("train/learning_rate", lr)
        if not self.observer.quiet:
            eta = (time.perf_counter() - self.started) / step * (self.total - step)
            display.progress(
                f"{self.label} step {step}/{self.total} loss {float(loss):.3f} ETA {eta:.0f}s"
            )

    def round(self, round_index: int, accuracy: float) -> None:
        with self.writer.as_default(step=round_index + 1):
            tf.summary.scalar("validation/accuracy", accuracy)

    def finished(self, record: dict[str, Any], hparams: dict[str, Any]) -> None:
        with self.writer.as_default():
            hp.hparams(
                {k: v for k, v in hparams.items() if isinstance(v, int | float | str)},
                trial_id=record["id"],
            )
            if record.get("score") is not None:
                tf.summary.scalar("candidate/score", record["score"], step=0)
        self.writer.close()
        if not self.observer.quiet:
            display.candidate_line(record)
