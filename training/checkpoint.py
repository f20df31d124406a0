"""Checkpoints as plain data: ``torch.save`` of tensors, dicts, lists, str, int, float, bool and None only.

Such a file loads with ``torch.load(path, weights_only=True)``, which refuses to unpickle anything else, so no
code from a checkpoint is ever executed. Every checkpoint is written atomically (temporary name, then rename).

Contents (keys of the top-level dict)::

    format, format_version   "vocalmine-separation-checkpoint", 1
    target, arch             "vocals" | "instrumental", "unet" | "baseline"
    model_config             UNetConfig.to_dict()
    stft                     {"sample_rate", "n_fft", "hop"} of the shards it was trained on
    model                    state_dict (parameters and BatchNorm buffers)
    optimizer                Adam state_dict (absent in model-only exports)
    step                     optimizer steps taken
    train_config             TrainConfig.to_dict() (the flat settings, see training.config)
    rng                      one capture_rng_state() per rank (list, index = rank)
    data_position            per rank (list, index = rank): {"next_worker": loader thread of the next batch,
                             "workers": [DataPosition.to_dict() per loader thread]}
    world_size, writer_rank  the run's world size; the rank that wrote the file (always 0)
    best_valid_loss          float or None
    config_changes           [{"step", "changes": [str]}]: options changed on --resume with --allow-config-change
    shards_build_key         the shard manifest's build_key (what "the same data" means on --resume)
    precision, channels_last how the run computed ("fp32" | "bf16" | "fp16", bool; training.distributed.Compute)
    code_version             vocalmine.code_version() of the writer

``best.pt`` (the best validation so far) holds the model part only (format ... step, code_version) with
``valid_loss`` and ``train_config``.
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vocalmine
from training.config import TARGETS
from training.contents import model_part_problem
from vocalmine import storage
from vocalmine.atomic import atomic_path
from vocalmine.errors import UserInputError

log = logging.getLogger(__name__)

FORMAT = "vocalmine-separation-checkpoint"
FORMAT_VERSION = 1
CHECKPOINT_NAME = "checkpoint.pt"
#: The run's best weights by validation loss (model part, ``valid_loss``): what a run folder resolves to.
BEST_NAME = "best.pt"


def resolve_checkpoint(path: str | os.PathLike, which: str = "best") -> Path:
    """A run folder or a checkpoint file (local, or a URL: ``vocalmine.storage``) -> the file; ``UserInputError``
    when there is none.

    A run folder gives its ``best.pt`` (lowest validation loss) with ``which="best"`` when it has one, else its
    ``checkpoint.pt`` (the latest weights; ``which="latest"`` always)."""
    if which not in ("best", "latest"):
        raise ValueError(f"which must be 'best' or 'latest', got {which!r}")
    p = storage.path(path)  # a Path, or a URLPath
    if p.is_dir():
        p = p / BEST_NAME if which == "best" and (p / BEST_NAME).is_file() else p / CHECKPOINT_NAME
    if not p.is_file():
        raise UserInputError(f"no checkpoint at {p} (give a run folder written by `train` or a .pt file)")
    return p


def model_payload(model, target: str, stft: dict, step: int = 0) -> dict[str, Any]:
    """The model part of a checkpoint (enough for ``separate`` and ``evaluate``): format, target, arch, model
    config, STFT, weights, step. ``train`` adds the optimizer, RNG and data position to it."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, got {target!r}")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "target": target,
        "arch": model.config.arch,
        "model_config": model.config.to_dict(),
        "stft": {k: int(stft[k]) for k in ("sample_rate", "n_fft", "hop")},
        "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "step": int(step),
        "code_version": vocalmine.code_version(),
    }


def save_checkpoint(payload: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``payload`` atomically; it must hold only plain data (checked by loading it back is too slow, so
    ``_check_plain`` walks it instead). A failed write (a full disk) raises an ``OSError`` naming ``path`` and
    leaves the previous file as it was."""
    _check_plain(payload, "checkpoint")
    try:
        with atomic_path(path) as tmp, open(tmp, "wb", buffering=0) as fh:
            sink = _Sink(fh.fileno())
            try:
                torch.save(payload, sink)
            except RuntimeError:
                if sink.error is not None:  # torch reports a failed write as "unexpected pos"; the OS said why
                    raise sink.error from None
                raise
    except OSError as exc:
        if exc.filename:
            raise
        raise type(exc)(exc.errno, exc.strerror or str(exc), str(path)) from exc
    return Path(path)


class _Sink:
    """A file descriptor as ``torch.save`` writes to it: every byte written (short writes continued), and the
    ``OSError`` of a failed write (a full disk) kept in ``error``, which torch's own message does not carry."""

    def __init__(self, fd: int):
        self.fd = fd
        self.error: OSError | None = None

    def write(self, data) -> int:
        view = memoryview(data).cast("B")
        size = len(view)
        try:
            while view:
                view = view[os.write(self.fd, view):]
        except OSError as exc:
            self.error = exc
            raise
        return size

    def flush(self) -> None:
        pass


def load_checkpoint(
    path: str | os.PathLike,
    *,
    target: str | None = None,
    arch: str | None = None,
    map_location: str | torch.device = "cpu",
    which: str = "best",
) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check its target and architecture.

    Raises ``UserInputError`` when the file is missing, is not a vocalmine checkpoint, holds anything but plain
    data, or was trained for another ``target`` / ``arch`` than asked (``None`` accepts any). A run folder gives
    its best checkpoint (``which``, see ``resolve_checkpoint``).
    """
    p = resolve_checkpoint(path, which)
    try:
        source = io.BytesIO(storage.read_bytes(p)) if storage.is_url(p) else p
    except OSError as exc:
        raise UserInputError(f"{p}: cannot be read ({exc.strerror or type(exc).__name__}).") from None
    problem = _archive_problem(source)
    if problem:
        raise UserInputError(f"{p}: {problem}")
    try:
        ckpt = torch.load(source, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - whatever the archive's bytes make torch raise, the file is refused
        log.debug("torch.load(%s) failed: %r", p, exc)
        raise UserInputError(f"{p}: {_load_failure(p, exc)}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserInputError(f"{p} is not a vocalmine checkpoint (no format marker {FORMAT!r})")
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise UserInputError(
            f"{p} has checkpoint format version {ckpt.get('format_version')!r}; this code reads {FORMAT_VERSION}"
        )
    problem = model_part_problem(ckpt)
    if problem:
        raise UserInputError(f"{p} is not a usable vocalmine checkpoint: {problem}")
    problems = []
    if target is not None and ckpt["target"] != target:
        problems.append(f"target {ckpt['target']!r} (expected {target!r})")
    if arch is not None and ckpt["arch"] != arch:
        problems.append(f"architecture {ckpt['arch']!r} (expected {arch!r})")
    if problems:
        raise UserInputError(
            f"{p} is a checkpoint of another model: " + " and ".join(problems)
            + f"; it was trained with --target {ckpt['target']} --arch {ckpt['arch']}"
        )
    return ckpt


def _archive_problem(source: Path | io.BytesIO) -> str | None:
    """Why ``source`` is not a PyTorch checkpoint archive, found before anything is loaded (None: it is one).

    ``torch.save`` writes a zip archive holding ``<name>/data.pkl``; anything else (random bytes, a plain pickle,
    a cut archive without its central directory) never reaches the unpickler, whose errors on garbage vary
    (IndexError, KeyError, ...)."""
    try:
        if isinstance(source, io.BytesIO):
            head, size = source.getvalue()[:4], len(source.getvalue())
        else:
            size = os.path.getsize(source)
            with open(source, "rb") as fh:
                head = fh.read(4)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or type(exc).__name__})."
    if size == 0:
        return "is empty (0 bytes), not a vocalmine checkpoint; train again or copy the file again."
    if head != b"PK\x03\x04":
        return ("is not a safe vocalmine checkpoint: not a PyTorch checkpoint archive (random bytes, a plain "
                "pickle or another format); it was not loaded and nothing in it was run.")
    try:
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return ("is damaged or truncated (a PyTorch archive that cannot be read to the end); train again, or copy "
                "the file again.")
    finally:
        if isinstance(source, io.BytesIO):
            source.seek(0)
    if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return ("is not a safe vocalmine checkpoint: not a PyTorch checkpoint archive (a zip file of another "
                "kind); it was not loaded and nothing in it was run.")
    return None


def _load_failure(p: Path, exc: BaseException) -> str:
    """Why an archive (``_archive_problem`` found none) did not load, in our words (torch's text is cut
    mid-sentence and its advice for an unsafe file, loading with ``weights_only=False``, is the one thing not to
    do)."""
    if isinstance(exc, OSError):
        return f"cannot be read ({exc.strerror or type(exc).__name__})."
    if isinstance(exc, pickle.UnpicklingError):
        return ("is not a safe vocalmine checkpoint: it holds Python objects other than tensors and plain data, "
                "which vocalmine never writes; it was refused without running anything in it.")
    return ("is damaged or truncated (a PyTorch archive that cannot be read to the end); train again, or copy "
            "the file again.")


# ---------------------------------------------------------------------------------------------- RNG states


def capture_rng_state() -> dict[str, Any]:
    """Every random generator the training loop can touch, as tensors and plain numbers."""
    np_state = np.random.get_state()
    py_version, py_internal, py_gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {
            "version": int(py_version),
            "internal": torch.tensor(py_internal, dtype=torch.int64),
            "gauss_next": py_gauss,
        },
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state()  # the current device's generator
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``capture_rng_state``."""
    torch.set_rng_state(state["torch"].cpu())
    n = state["numpy"]
    np.random.set_state(
        ("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["internal"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"].cpu())


_PLAIN = (str, int, float, bool, type(None), torch.Tensor)


def _check_plain(obj: Any, where: str) -> None:
    """Raise ``TypeError`` for anything ``torch.load(weights_only=True)`` would refuse (a bug, not user input)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is not str/int")
            _check_plain(v, f"{where}.{k}")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
    elif not isinstance(obj, _PLAIN):
        raise TypeError(f"{where}: {type(obj).__name__} is not plain checkpoint data")
