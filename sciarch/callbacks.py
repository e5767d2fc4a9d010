"""Callbacks the runner adds to every ``fit`` so that a killed run resumes bit for bit.

:class:`ResumableCSVLogger` keeps one ``history.csv`` row per epoch across kill-and-resume;
:class:`TrainingStateBackup` saves, with each epoch, the state BackupAndRestore does not
(the models' random-seed generators, the bookkeeping of early stopping -- with its best
weights -- best checkpoint and ReduceLROnPlateau); :class:`LearningRateLogger` puts the
learning rate into each epoch's logs (a ``learning_rate`` column of ``history.csv``).
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import keras
import numpy as np
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


def current_learning_rate(optimizer) -> float:
    """The rate the optimizer applies at its next step (a schedule evaluated at ``iterations``)."""
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer (mixed precision)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class LearningRateLogger(keras.callbacks.Callback):
    """Adds ``learning_rate`` (the rate of the next step) to every epoch's logs; put it before the CSV logger."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.model.optimizer is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class TrainingStateBackup(keras.callbacks.Callback):
    """Backs up, with every epoch, the training state BackupAndRestore leaves out.

    That is the models' ``SeedGenerator`` states (dropout and other random layers: not in
    ``save_weights``) and the bookkeeping of EarlyStopping (``wait``, ``best``, ... and its
    best weights, kept in ``early_stopping_best_<epoch>.npz`` next to the record),
    ModelCheckpoint (``best``) and ReduceLROnPlateau (``best``, ``wait``, ``cooldown_counter``;
    the reduced rate itself is an optimizer variable BackupAndRestore restores). Each record is
    keyed by the epoch BackupAndRestore resumes at. Put this callback after its peers (its
    record of an epoch then holds their state after that epoch) and before BackupAndRestore (the
    record is written before the epoch is backed up). The state is restored when the first epoch
    of a resumed ``fit`` begins, or at the end of a ``fit`` that had no epoch left to run.
    """

    _FIELDS = {
        keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch", "stopped_epoch"),
        keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
        keras.callbacks.ModelCheckpoint: ("best",),
    }

    def __init__(self, path: Path, peers: list | None = None, keep: int = 3):
        super().__init__()
        self.path = Path(path)
        self.peers = peers if peers is not None else []
        self.keep = keep

    def _fields(self, cb) -> tuple:
        return next(f for kind, f in self._FIELDS.items() if isinstance(cb, kind))

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

    def record(self, epoch: int) -> dict | None:
        """The saved state for resuming at ``epoch`` (None if there is none)."""
        return next((r for r in self._records() if r.get("epoch") == epoch), None)

    def _best_weights_path(self, best_epoch: int) -> Path:
        return self.path.with_name(f"early_stopping_best_{int(best_epoch)}.npz")

    def _save_best_weights(self, cb) -> str | None:
        if not (cb.restore_best_weights and cb.best_weights is not None):
            return None
        path = self._best_weights_path(cb.best_epoch)
        if not path.is_file():  # the best weights of an epoch never change
            tmp = path.with_name(path.stem + ".tmp.npz")
            with open(tmp, "wb") as fh:
                np.savez(fh, *[np.asarray(w) for w in cb.best_weights])
            tmp.replace(path)
        return path.name

    def on_epoch_end(self, epoch, logs=None):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {"epoch": epoch + 1, "seeds": [[int(x) for x in v.numpy().ravel()] for v in self._seed_states()],
                  "callbacks": []}
        for cb in self.peers:
            saved = {k: jsonable(getattr(cb, k, None)) for k in self._fields(cb)}
            if isinstance(cb, keras.callbacks.EarlyStopping):
                saved["best_weights_file"] = self._save_best_weights(cb)
            record["callbacks"].append(saved)
        records = [r for r in self._records() if r.get("epoch", -1) <= epoch][-(self.keep - 1):] + [record]
        write_json_atomic(self.path, records)
        in_use = {c.get("best_weights_file") for r in records for c in r.get("callbacks", [])}
        for old in self.path.parent.glob("early_stopping_best_*.npz"):
            if old.name not in in_use:
                old.unlink(missing_ok=True)

    def on_train_begin(self, logs=None):
        self._restored = False
        self._epochs_run = 0

    def on_epoch_begin(self, epoch, logs=None):
        # the first epoch of this fit: BackupAndRestore and the peers' on_train_begin have run
        self._epochs_run += 1
        if getattr(self, "_restored", True):
            return
        self._restored = True
        if epoch == 0:
            return
        record = self.record(epoch)
        if record is None:
            print(f"warning: {self.path}: no saved random/callback state for epoch {epoch}; the resumed run may "
                  "differ from an uninterrupted one", file=sys.stderr)
            return
        self._restore(record)

    def on_train_end(self, logs=None):
        # a fit with no epoch left to run (the run was killed after its last backup, or had
        # stopped early): the peers never saw an epoch, so apply the early-stopping weights here
        if getattr(self, "_epochs_run", 1) or getattr(self, "_restored", True):
            return
        meta = self.path.parent / "training_metadata.json"  # BackupAndRestore's: the epoch it resumed at
        try:
            record = self.record(int(json.loads(meta.read_text())["epoch"]))
        except (OSError, ValueError, KeyError, TypeError):
            record = None
        if record is None:
            return
        self._restore(record)
        for cb in self.peers:
            if isinstance(cb, keras.callbacks.EarlyStopping) and cb.restore_best_weights and cb.best_weights:
                self.model.set_weights(cb.best_weights)

    def _restore(self, record: dict) -> None:
        states = self._seed_states()
        if len(states) == len(record["seeds"]):
            for var, value in zip(states, record["seeds"]):
                var.assign(tf.constant(value, dtype=var.dtype, shape=var.shape))
        for cb, saved in zip(self.peers, record.get("callbacks", [])):
            for k, v in saved.items():
                if k == "best_weights_file":
                    if v and (self.path.parent / v).is_file():
                        with np.load(self.path.parent / v) as npz:
                            cb.best_weights = [npz[f"arr_{i}"] for i in range(len(npz.files))]
                elif v is not None:
                    setattr(cb, k, v if k == "best" else int(v))


def jsonable(v):
    """A float (or None for missing / non-finite values) for the state record."""
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None
