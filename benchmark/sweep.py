"""Multirun sweeps (`python -m benchmark -m ...`) in which every job runs whatever the others do.

A job that fails (missing data, a bad value, a bug) prints its error, is logged to
`<sweep dir>/failed_jobs.jsonl`, and the sweep goes on to the next job; once every job has run,
`FailedJobs` (a Hydra callback, conf/config.yaml) lists the failures and exits with status 1. Jobs
that run in worker processes (hydra/launcher=joblib, ray) log the same way: the log is a file, and
each failure is one append of one line. Ctrl-C still stops the whole sweep.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from core.errors import user_error

LOG = "failed_jobs.jsonl"


def run_job(job: Callable[[], None], hydra_cfg: DictConfig) -> None:
    """Run one job of a sweep; a failure is printed and logged instead of ending the sweep."""
    try:
        job()
    except Exception as exc:  # noqa: BLE001 - every failure is reported at the end of the sweep
        ours = user_error(exc)
        if ours is None:
            traceback.print_exc()
        message = str(ours) if ours is not None else f"{type(exc).__name__}: {exc}"
        print(f"error: {message}", file=sys.stderr)
        line = json.dumps({"job": hydra_cfg.job.num, "overrides": list(hydra_cfg.overrides.task), "error": message})
        log = Path(hydra_cfg.sweep.dir) / LOG
        log.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())  # one write of one line: whole lines even from parallel jobs
        finally:
            os.close(fd)


class FailedJobs(Callback):
    """After a sweep: the failed jobs, each with its overrides and error, and exit status 1 if any."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        log = Path(config.hydra.sweep.dir) / LOG
        if not log.is_file():
            return
        failures = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
        print(f"\n{len(failures)} job(s) of the sweep failed (log: {log}):", file=sys.stderr)
        for f in sorted(failures, key=lambda f: f["job"]):
            print(f"  #{f['job']} {' '.join(f['overrides'])}\n      {f['error']}", file=sys.stderr)
        sys.exit(1)
