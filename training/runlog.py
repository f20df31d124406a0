"""What a run reports while it trains: ``train_log.csv``, TensorBoard scalars and the progress bar.

``RunLog`` is made on every rank: rank 0 writes the files and shows the bar; the other ranks write nothing
(their bar is disabled). ``LogWindow`` sums the loss and times of the steps since the last log row.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import torch
from tqdm import tqdm

from vocalmine.atomic import atomic_path

log = logging.getLogger(__name__)

LOG_COLUMNS = ("step", "loss", "lr", "patches_per_s", "data_wait_share", "valid_loss", "elapsed_s")
LOG_NAME = "train_log.csv"
TENSORBOARD_DIR = "tensorboard"


class CsvLog:
    """Appends rows to ``train_log.csv``; on resume first drops rows past the checkpoint's step."""

    def __init__(self, path: Path, keep_up_to_step: int | None):
        self.path = path
        if keep_up_to_step is not None and path.exists():
            with path.open(newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["step"]) <= keep_up_to_step]
            with atomic_path(path) as tmp, tmp.open("w", newline="") as out:
                w = csv.DictWriter(out, LOG_COLUMNS)
                w.writeheader()
                w.writerows(rows)
        new = not path.exists()
        self.fh = path.open("a", newline="")
        self.writer = csv.DictWriter(self.fh, LOG_COLUMNS)
        if new:
            self.writer.writeheader()
            self.fh.flush()

    def write(self, row: dict) -> None:
        try:
            self.writer.writerow({k: row.get(k, "") for k in LOG_COLUMNS})
            self.fh.flush()
        except OSError as exc:  # a full disk: name the file (a failed write names none)
            raise type(exc)(exc.errno, exc.strerror or str(exc), str(self.path)) from exc

    def close(self) -> None:
        self.fh.close()


class LogWindow:
    """The steps since the last log row: their summed loss (kept on the device: no sync per step), their count,
    and when the window began (wall clock and the loader's cumulated wait, seconds)."""

    def __init__(self, device: torch.device, wait_s: float = 0.0):
        self.loss = torch.zeros((), dtype=torch.float64, device=device)
        self.steps = 0
        self.t0 = time.perf_counter()
        self.wait0 = wait_s

    def add(self, loss: torch.Tensor) -> None:
        self.loss += loss.detach().double()
        self.steps += 1

    def reset(self, wait_s: float) -> None:
        self.loss.zero_()
        self.steps = 0
        self.t0, self.wait0 = time.perf_counter(), wait_s


class RunLog:
    """The log file, TensorBoard writer and progress bar of one run (files only when ``is_main``).

    ``start_step`` and ``resumed``: a resumed run drops log rows and TensorBoard events past its checkpoint."""

    def __init__(self, run_dir: Path, *, max_steps: int, start_step: int, resumed: bool, is_main: bool,
                 tensorboard: bool, progress: bool, desc: str):
        self.csv: CsvLog | None = None
        self.writer = None
        self.tb_dir = run_dir / TENSORBOARD_DIR
        if is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            self.csv = CsvLog(run_dir / LOG_NAME, keep_up_to_step=start_step if resumed else None)
            if tensorboard:
                # Imported here: tensorboard takes seconds to import, and only runs that write it need it.
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / TENSORBOARD_DIR), purge_step=start_step or None)
        self.bar = tqdm(total=max_steps, initial=start_step, unit="step", dynamic_ncols=True,
                        disable=not (is_main and progress), desc=desc)

    def step(self) -> None:
        self.bar.update(1)

    def valid(self, step: int, loss: float) -> None:
        if self.writer:
            self.writer.add_scalar("valid/loss", loss, step)

    def row(self, row: dict, loss: float, lr: float) -> None:
        """One ``train_log.csv`` row (``LOG_COLUMNS``, formatted) and its training scalars (rank 0)."""
        if self.csv is None:
            return
        self.csv.write(row)
        if self.writer:
            try:
                self.writer.add_scalar("train/loss", loss, row["step"])
                self.writer.add_scalar("train/lr", lr, row["step"])
                self.writer.add_scalar("train/patches_per_s", float(row["patches_per_s"]), row["step"])
                self.writer.add_scalar("train/data_wait_share", float(row["data_wait_share"]), row["step"])
            except OSError as exc:  # its writer thread failed (a full disk): name the folder
                raise type(exc)(exc.errno, exc.strerror or str(exc), str(self.tb_dir)) from exc
        self.bar.set_postfix(loss=f"{loss:.4g}", refresh=False)

    def close(self) -> None:
        self.bar.close()
        if self.writer:
            try:
                self.writer.close()
            except OSError as exc:  # TensorBoard's scalars only: the run's files are written apart
                log.warning("TensorBoard scalars in %s may be incomplete: %s", self.tb_dir, exc.strerror or exc)
        if self.csv:
            self.csv.close()
