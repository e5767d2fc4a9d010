"""Callbacks the runner adds to every ``fit`` so that a killed run resumes bit for bit.

:class:`ResumableCSVLogger` keeps one ``history.csv`` row per epoch across kill-and-resume;
:class:`TrainingStateBackup` saves, with each epoch, the state BackupAndRestore does not
(the models' random-seed generators, early-stopping and best-checkpoint bookkeeping).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import keras
import tensorflow as tf

from sciarch.runs import write_json_atomic


class ResumableCSVLogger(keras.callbacks.CSVLogger):
    """``CSVLogger(append=True)`` that keeps one row per epoch across kill-and-resume.

    A crash can land after an epoch's row was written but before BackupAndRestore saved
    that epoch; the resumed ``fit`` then repeats it. At the first epoch of each ``fit``
    this logger drops the rows of that epoch and later ones before appending. Put it
    before BackupAndRestore so a row is never missing for an epoch that was backed up.
    """

    def __init__(self, filename: str):
        super().__init__(filename, append=True)
        self._pruned = False

    def on_train_begin(self, logs=None):
        self._pruned = False
        super().on_train_begin(logs)

    def on_epoch_begin(self, epoch, logs=None):
        if self._pruned:
            return
        self._pruned = True
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        drop_history_from(Path(self.filename), epoch)
        super().on_train_begin()  # reopen for appending; the header is written only if missing


def drop_history_from(path: Path, epoch: int) -> None:
    if not path.is_file():
        return
    with open(path, newline="") as fh:  # keep CSVLogger's line endings
        lines = fh.read().splitlines(keepends=True)
    if not lines:
        return
    kept = [lines[0]]
    for line in lines[1:]:
        head = line.split(",", 1)[0].strip()
        if head.isdigit() and int(head) < epoch:
            kept.append(line)
    if len(kept) != len(lines):
        kept = [ln if ln.endswith(("\n", "\r")) else ln + "\n" for ln in kept]
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            fh.write("".join(kept))
        tmp.replace(path)


class TrainingStateBackup(keras.callbacks.Callback):
    """Backs up, with every epoch, the training state BackupAndRestore leaves out.

    That is the models' ``SeedGenerator`` states (dropout and other random layers: not in
    ``save_weights``) and the bookkeeping of EarlyStopping (``wait``, ``best``, ...) and
    ModelCheckpoint (``best``). Each record is keyed by the epoch BackupAndRestore resumes
    at; put this callback before BackupAndRestore (its record of an epoch is then written
    first) and after it is restored (``on_train_begin`` runs after BackupAndRestore's).
    """

    _ES_FIELDS = ("wait", "best", "best_epoch", "stopped_epoch")

    def __init__(self, path: Path, peers: list | None = None, keep: int = 3):
        super().__init__()
        self.path = Path(path)
        self.peers = peers if peers is not None else []
        self.keep = keep

    def _seed_states(self) -> list:
        from keras.src.random.seed_generator import global_seed_generator

        states = [v for v in self.model.variables if v.path.endswith("seed_generator_state")]
        return states + [global_seed_generator().state]

    def _records(self) -> list:
        if not self.path.is_file():
            return []
        try:
            return json.loads(self.path.read_text())
        except (json.JSONDecodeError, OSError):
            return []

    def on_epoch_end(self, epoch, logs=None):
        record = {"epoch": epoch + 1, "seeds": [[int(x) for x in v.numpy().ravel()] for v in self._seed_states()],
                  "callbacks": []}
        for cb in self.peers:
            if isinstance(cb, keras.callbacks.EarlyStopping):
                record["callbacks"].append({k: jsonable(getattr(cb, k, None)) for k in self._ES_FIELDS})
            else:  # ModelCheckpoint
                record["callbacks"].append({"best": jsonable(getattr(cb, "best", None))})
        records = [r for r in self._records() if r.get("epoch", -1) <= epoch][-(self.keep - 1):] + [record]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, records)

    def on_train_begin(self, logs=None):
        self._restored = False

    def on_epoch_begin(self, epoch, logs=None):
        # the first epoch of this fit: BackupAndRestore and the peers' on_train_begin have run
        if getattr(self, "_restored", True):
            return
        self._restored = True
        if epoch == 0:
            return
        record = next((r for r in self._records() if r.get("epoch") == epoch), None)
        if record is None:
            print(f"warning: {self.path}: no saved random/callback state for epoch {epoch}; the resumed run may "
                  "differ from an uninterrupted one", file=sys.stderr)
            return
        states = self._seed_states()
        if len(states) == len(record["seeds"]):
            for var, value in zip(states, record["seeds"]):
                var.assign(tf.constant(value, dtype=var.dtype, shape=var.shape))
        for cb, saved in zip(self.peers, record.get("callbacks", [])):
            for k, v in saved.items():
                if v is not None:
                    setattr(cb, k, v if k == "best" else int(v))


def jsonable(v):
    """A float (or None for missing / non-finite values) for the state record."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
