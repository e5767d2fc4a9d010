"""The one generic runner: every pipeline trains, evaluates, exports and reports through it.

It owns the strategy scope, ``compile`` and ``fit``, the callbacks (progress bar,
TensorBoard, best-weights checkpoint, BackupAndRestore with one directory per
worker, TerminateOnNaN, early stopping from config), export of ``model.keras``, the
run directory, ``metrics.json`` and ``report.md``.

Running the same command again after a crash (``kill -9``) resumes: without
``--out`` the newest unfinished run of the same configuration is reused, and
BackupAndRestore restores the weights, optimiser and epoch counter. The resumed run is
the uninterrupted one, bit for bit: the training inputs are shuffled per epoch from
``(seed, epoch)`` (:mod:`sciarch.epochs`; the runner sets ``Pipeline.epoch``), the
models' random-seed states and the early-stopping/checkpoint bookkeeping are backed up
with each epoch, and with ``train.steps_per_epoch`` (an endless training stream, an
epoch = that many batches of it) the batches of the finished epochs are skipped.
``run.json`` records the finished stages (trained, exported, evaluated, reported); a
rerun skips those, and a finished run is left alone unless ``overwrite=True``.

Example:
    >>> from sciarch.config import load_config   # doctest: +SKIP
    >>> from sciarch.runner import run_pipeline  # doctest: +SKIP
    >>> run = run_pipeline(load_config("configs/genomics/quick.yaml"))  # doctest: +SKIP
    >>> run.dir / "report.md"  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
import warnings
from pathlib import Path

import keras
import tensorflow as tf

from sciarch.callbacks import LearningRateLogger, ResumableCSVLogger, TrainingStateBackup
from sciarch.config import ConfigError, PipelineConfig, TrainConfig, dump_config
from sciarch.distribute import distribute_inputs, make_strategy, worker_info
from sciarch.ensemble import build_ensemble
from sciarch.epochs import EpochCounter
from sciarch.losses import with_loss
from sciarch.model_io import (  # noqa: F401  (the errors and load_run_model are re-exported)
    MissingModelError,
    ModelLoadError,
    init_weights_from,
    load_run_model,
)
from sciarch.pipeline import Pipeline, get_pipeline_class
from sciarch.report import read_epochs, write_report
from sciarch.runs import Run, config_hash
from sciarch.schedules import build_learning_rate


def make_optimizer(train: TrainConfig, steps_per_epoch: int | None = None) -> keras.optimizers.Optimizer:
    """The optimizer of ``train``: its learning rate or ``lr_schedule`` (which needs ``steps_per_epoch``),
    decoupled weight decay (Keras applies ``weight_decay`` AdamW-style for every optimizer), clipping."""
    kw = {"learning_rate": build_learning_rate(train, steps_per_epoch)}
    for name in ("clipnorm", "global_clipnorm", "clipvalue"):
        if getattr(train, name) is not None:
            kw[name] = getattr(train, name)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=train.weight_decay or 1e-4, **kw)
    if train.weight_decay:
        kw["weight_decay"] = train.weight_decay
    if train.optimizer == "adam":
        return keras.optimizers.Adam(**kw)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=0.9, **kw)
    return keras.optimizers.RMSprop(**kw)


def _monitor(name: str, has_validation: bool) -> str:
    """``val_x`` becomes ``x`` for a pipeline without a validation split."""
    return name[4:] if name.startswith("val_") and not has_validation else name


def _callbacks(run: Run, cfg: PipelineConfig, has_validation: bool, chief: bool, worker: int,
               epoch_counter: EpochCounter | None = None) -> list:
    """The callbacks of every ``fit``, in the order their ``on_epoch_end`` must run: the learning rate
    into the logs, the history row, checkpoint/early stopping/ReduceLROnPlateau, then the
    training-state record and BackupAndRestore (so a backed-up epoch has its row and its state)."""
    t = cfg.train
    monitor = _monitor(t.early_stopping.monitor if t.early_stopping else "val_loss", has_validation)
    cbs: list = [keras.callbacks.TerminateOnNaN()]
    if epoch_counter is not None:
        cbs.append(epoch_counter.callback())
    cbs.append(LearningRateLogger())
    if chief:  # the history row of an epoch is written before that epoch is backed up
        cbs.append(ResumableCSVLogger(str(run.history_path)))
        (run.dir / "checkpoints").mkdir(exist_ok=True)
        cbs.append(
            keras.callbacks.ModelCheckpoint(
                str(run.dir / "checkpoints" / "best.weights.h5"),
                monitor=monitor,
                save_best_only=True,
                save_weights_only=True,
                mode=t.early_stopping.mode if t.early_stopping else "auto",
            )
        )
        if t.tensorboard:
            cbs.append(keras.callbacks.TensorBoard(str(run.log_dir), write_graph=False, profile_batch=0))
    if t.early_stopping:
        es = t.early_stopping
        cbs.append(
            keras.callbacks.EarlyStopping(
                monitor=monitor, patience=es.patience, mode=es.mode, restore_best_weights=es.restore_best_weights
            )
        )
    if t.reduce_on_plateau:
        rop = t.reduce_on_plateau
        cbs.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=_monitor(rop.monitor, has_validation), factor=rop.factor, patience=rop.patience,
                min_lr=rop.min_lr, cooldown=rop.cooldown, mode=rop.mode,
            )
        )
    if t.backup_and_restore:
        peers = [cb for cb in cbs if isinstance(cb, tuple(TrainingStateBackup._FIELDS))]
        cbs.append(TrainingStateBackup(_state_path(run, worker), peers))
        # the backup is deleted by the runner once model.keras is written: a crash between
        # the end of fit and the export then resumes with no epoch left to train
        cbs.append(
            keras.callbacks.BackupAndRestore(str(run.backup_dir(worker)), delete_checkpoint=False, double_checkpoint=True)
        )
    return cbs


def _state_path(run: Run, worker: int) -> Path:
    return run.backup_dir(worker) / "training_state.json"


def _verbose(t: TrainConfig) -> int:
    if t.verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(t.verbose)


def build_training(pipeline: Pipeline, strategy: tf.distribute.Strategy, steps_per_epoch: int | None = None):
    """Build model, loss and compiled training model inside ``strategy``'s scope
    (``steps_per_epoch`` sizes a ``train.lr_schedule``), starting from ``train.init_weights``'
    weights when set (a resume then restores its own backup over them)."""
    cfg = pipeline.config
    with strategy.scope():
        model = pipeline.build_model()
        if cfg.train.init_weights:
            fresh = init_weights_from(model, cfg.train.init_weights, type(pipeline))
            if fresh:
                shown = ", ".join(fresh[:6]) + (f" and {len(fresh) - 6} more" if len(fresh) > 6 else "")
                print(f"train.init_weights: {len(fresh)} weight tensor(s) that {cfg.train.init_weights} lacks keep "
                      f"their initialisation: {shown}", file=sys.stderr, flush=True)
        loss = pipeline.build_loss()
        trainable = with_loss(model, loss) if loss is not None else model
        trainable.compile(
            optimizer=make_optimizer(cfg.train, steps_per_epoch),
            metrics=pipeline.build_metrics() or None,
            jit_compile=cfg.train.jit_compile,
        )
    return model, trainable


def run_pipeline(cfg: PipelineConfig, out: str | Path | None = None, runs_root: str | Path = "runs",
                 overwrite: bool = False) -> Run:
    """Train, evaluate, export and report one pipeline from a validated config.

    ``out`` holding a finished run of ``cfg`` raises :class:`sciarch.runs.FinishedRunError`
    and one of another config a :class:`ConfigError`, unless ``overwrite`` (start from
    scratch there). An unfinished run there is resumed from its last finished stage.
    """
    t0 = time.perf_counter()
    keras.utils.set_random_seed(cfg.seed)
    if cfg.train.mixed_precision:
        keras.mixed_precision.set_global_policy("mixed_float16")
    if out is None and worker_info().num_workers > 1:
        raise ConfigError(
            "a multi-worker run (TF_CONFIG) needs --out DIR, the same path on every worker, so that a "
            "restarted worker finds its own backup again"
        )
    strategy = make_strategy(cfg.distribute)
    winfo = worker_info()
    chief = winfo.is_chief
    text = dump_config(cfg)
    chash = config_hash(text)
    cls = get_pipeline_class(cfg.pipeline)
    cls(cfg).build_loss()  # a bad loss name fails here, before a run directory exists
    check_ensemble(cls, cfg)
    directory = Path(out) if out is not None else Run.new_dir(runs_root, cfg.pipeline, chash)
    if chief:
        run = Run.create(directory, text, chash, overwrite=overwrite)
    else:  # other workers write into their own scratch run (checkpoints stay per worker)
        run = Run.create(Path(directory) / f"_worker_{winfo.task_id}", text, chash, overwrite=overwrite)
    pipeline = cls(cfg, run.dir)
    has_val = "validation" in cls.splits
    # one worker only: the workers of a cluster must all run fit, or the others wait for ever
    skip_training = winfo.num_workers == 1 and run.stage_done("exported") and run.model_path.is_file()

    if skip_training:
        model = load_run_model(run.dir, cls)
        print(f"{run.dir}: training and export already done; evaluating the saved model.keras", file=sys.stderr)
    elif cfg.train.ensemble > 1:
        model = _train_ensemble(run, pipeline, strategy, winfo, t0, text, chash)
    else:
        model = _train(run, pipeline, strategy, winfo, t0)

    if not chief:
        # only the chief evaluates and reports; each other worker keeps its final model in
        # its own run directory (<out>/_worker_K/model.keras) so replicas can be compared
        run.finish(time.perf_counter() - t0)
        return run

    if winfo.num_workers > 1 and not skip_training:
        # predict() on the strategy's model would issue collectives the other workers no
        # longer join: evaluate and report with the exported copy, outside the strategy
        model = keras.models.load_model(run.model_path, compile=False)
    if run.stage_done("evaluated") and run.metrics_path.is_file():
        metrics = json.loads(run.metrics_path.read_text())
    else:
        eval_split = "validation" if has_val else cls.splits[0]
        evaluation = pipeline.evaluate(model, eval_split)
        metrics = {
            "pipeline": cfg.pipeline,
            "split": eval_split,
            "headline_metric": cls.headline_metric,
            "headline": evaluation.get(cls.headline_metric),
            "evaluation": evaluation,
            "final_epoch_logs": _last_epoch_logs(_history_path(run)),
            "epochs_completed": len(read_epochs(_history_path(run))),
            "train_wall_time_s": run.info.get("train_wall_time_s"),
            "replicas": strategy.num_replicas_in_sync,
            "workers": winfo.num_workers,
        }
        if cfg.train.ensemble > 1:
            metrics["ensemble"] = _evaluate_members(run, pipeline, eval_split)
        run.write_metrics(metrics)
        run.mark_stage("evaluated")
    if cfg.report.enabled:
        write_report(run, pipeline, model, metrics)
    run.mark_stage("reported")
    run.finish(time.perf_counter() - t0)
    return run


def _train(run: Run, pipeline: Pipeline, strategy: tf.distribute.Strategy, winfo, t0: float) -> keras.Model:
    """``fit`` (resuming from the backup), then export ``model.keras``; records both stages."""
    cfg = pipeline.config
    cls = type(pipeline)
    has_val = "validation" in cls.splits
    steps = pipeline.steps_per_epoch()
    # epoch-indexed shuffling needs a fresh input iterator per epoch; with steps_per_epoch the
    # training stream is endless (one iterator) and a resume skips the finished epochs' batches
    counter = EpochCounter() if steps is None else None
    pipeline.epoch = counter.variable if counter is not None else None
    if cfg.train.backup_and_restore:
        _repair_backup(run.backup_dir(winfo.task_id))
    start = _backed_up_epoch(run.backup_dir(winfo.task_id)) if cfg.train.backup_and_restore else 0

    def train_inputs(ctx):
        ds = pipeline.build_inputs("train", ctx)
        if steps is None:
            return ds
        if int(ds.cardinality()) != tf.data.INFINITE_CARDINALITY:
            ds = ds.repeat()
        per_step = ctx.num_replicas_in_sync // ctx.num_input_pipelines if ctx is not None else 1
        return ds.skip(start * steps * per_step) if start else ds

    train_ds = distribute_inputs(strategy, train_inputs)
    val_ds = distribute_inputs(strategy, lambda ctx: pipeline.build_inputs("validation", ctx)) if has_val else None
    sched = cfg.train.lr_schedule
    schedule_steps = steps if steps is not None or (sched.name == "constant" and not sched.warmup_epochs) \
        else _dataset_steps(train_ds, strategy, winfo.num_workers)
    model, trainable = build_training(pipeline, strategy, schedule_steps)
    epochs = cfg.train.epochs
    if start and cfg.train.backup_and_restore and _stopped_early(_state_path(run, winfo.task_id), start):
        epochs = start  # early stopping had ended the run before the kill: no epoch left to train

    with warnings.catch_warnings():
        if steps is None:
            # an epoch is one pass over a finite dataset of unknown length: Keras warns "Your input ran
            # out of data; interrupting training" at the end of every such pass, which here is the plan
            warnings.filterwarnings("ignore", message="Your input ran out of data", category=UserWarning)
        trainable.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            steps_per_epoch=steps,
            validation_steps=cfg.train.validation_steps if has_val else None,
            callbacks=_callbacks(run, cfg, has_val, winfo.is_chief, winfo.task_id, counter),
            verbose=_verbose(cfg.train),
            shuffle=False,
        )
    run.mark_stage("trained", train_wall_time_s=round(time.perf_counter() - t0, 2))
    _save_model(model, run.model_path)
    run.mark_stage("exported")
    shutil.rmtree(run.dir / "backup", ignore_errors=True)
    return model


def check_ensemble(cls: type[Pipeline], cfg: PipelineConfig) -> None:
    """``train.ensemble`` > 1 for a pipeline whose outputs cannot be averaged is a one-line :class:`ConfigError`."""
    if cfg.train.ensemble > 1 and not cls.supports_ensemble:
        raise ConfigError(f"key 'train.ensemble': pipeline '{cls.name}' does not support ensembles (its model's "
                          f"outputs cannot be averaged); set train.ensemble to 1 (got {cfg.train.ensemble})")


def _member_dir(run: Run, k: int) -> Path:
    return run.dir / "members" / str(k)


def _member_done(directory: Path) -> bool:
    try:
        info = json.loads((directory / "run.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return info.get("status") == "finished" and (directory / "model.keras").is_file()


def _train_ensemble(run: Run, pipeline: Pipeline, strategy: tf.distribute.Strategy, winfo, t0: float,
                    config_text: str, chash: str) -> keras.Model:
    """Train the ``train.ensemble`` members one after the other, each a resumable run in
    ``members/<k>/`` with random seed ``seed + k`` (a finished member is not trained again), then
    export the one model averaging them (:func:`sciarch.ensemble.build_ensemble`)."""
    cfg = pipeline.config
    cls = type(pipeline)
    for k in range(cfg.train.ensemble):
        directory = _member_dir(run, k)
        if _member_done(directory):
            continue
        member_run = Run.create(directory, config_text, chash)
        t_member = time.perf_counter()
        keras.utils.set_random_seed(cfg.seed + k)  # initial weights and dropout; data and shuffling keep `seed`
        _train(member_run, cls(cfg, directory), strategy, winfo, t_member)
        member_run.finish(time.perf_counter() - t_member)
    members = [load_run_model(_member_dir(run, k), cls) for k in range(cfg.train.ensemble)]
    model = build_ensemble(members, name=f"{cfg.pipeline}_ensemble")
    run.mark_stage("trained", train_wall_time_s=round(time.perf_counter() - t0, 2))
    _save_model(model, run.model_path)
    run.mark_stage("exported")
    return model


def _evaluate_members(run: Run, pipeline: Pipeline, split: str) -> dict:
    """Each member's headline metric (and epochs) on ``split``, next to the ensemble's in metrics.json."""
    cfg, cls = pipeline.config, type(pipeline)
    headlines, epochs = [], []
    for k in range(cfg.train.ensemble):
        member = load_run_model(_member_dir(run, k), cls)
        headlines.append(pipeline.evaluate(member, split).get(cls.headline_metric))
        epochs.append(len(read_epochs(_member_dir(run, k) / "history.csv")))
    return {"members": cfg.train.ensemble, "member_seeds": [cfg.seed + k for k in range(cfg.train.ensemble)],
            "member_headline": headlines, "member_epochs_completed": epochs}


def _history_path(run: Run) -> Path:
    """``history.csv`` of the run; for an ensemble, member 0's (each member has its own in ``members/<k>/``)."""
    if run.history_path.is_file() or not (run.dir / "members").is_dir():
        return run.history_path
    return _member_dir(run, 0) / "history.csv"


def _save_model(model: keras.Model, path: Path) -> None:
    """``model.save`` via a temporary file, so a crash never leaves a truncated ``model.keras``."""
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    tmp.replace(path)


def _dataset_steps(ds, strategy: tf.distribute.Strategy, num_workers: int) -> int | None:
    """Training steps per pass of a (distributed) training dataset; None when unknown or infinite.

    A distributed dataset counts the per-replica batches of its worker's input pipeline; one
    step takes one batch for each of the worker's replicas.
    """
    card = getattr(ds, "cardinality", None)
    try:
        n = int(card() if callable(card) else card)
    except (TypeError, ValueError, tf.errors.OpError):
        return None
    if not isinstance(ds, tf.data.Dataset):
        n //= max(1, strategy.num_replicas_in_sync // max(1, num_workers))
    return n if n > 0 else None


def _stopped_early(state_path: Path, epoch: int) -> bool:
    """Whether the training state saved for resuming at ``epoch`` says early stopping ended training."""
    record = TrainingStateBackup(state_path).record(epoch) or {}
    return any((c.get("stopped_epoch") or 0) > 0 for c in record.get("callbacks", []))


def _repair_backup(backup_dir: Path) -> None:
    """A kill during BackupAndRestore's save can leave ``training_metadata.json`` empty or cut
    (it is written after the weights, not atomically); Keras then fails the resume with a JSON
    error. Fall back to the previous weights + metadata pair (``double_checkpoint``), or drop
    the backup when there is none, so the rerun repeats at most the epochs since that pair."""
    meta = backup_dir / "training_metadata.json"
    if not meta.is_file() or _backed_up_epoch(backup_dir) > 0:
        return
    weights, prev_weights, prev_meta = (backup_dir / "latest.weights.h5", backup_dir / "latest.weights.h5.bkp",
                                        backup_dir / "training_metadata.json.bkp")
    try:
        prev_ok = prev_weights.is_file() and int(json.loads(prev_meta.read_text())["epoch"]) > 0
    except (json.JSONDecodeError, KeyError, ValueError, OSError):
        prev_ok = False
    if prev_ok:
        shutil.copyfile(prev_weights, weights)
        shutil.copyfile(prev_meta, meta)
    else:
        meta.unlink()
        weights.unlink(missing_ok=True)
    print(f"warning: {meta}: unreadable (the process was killed while saving it); resuming from "
          f"{'the previous backup' if prev_ok else 'the start'}", file=sys.stderr)


def _backed_up_epoch(backup_dir: Path) -> int:
    """The epoch BackupAndRestore resumes at (0 without a backup)."""
    meta = backup_dir / "training_metadata.json"
    try:
        return int(json.loads(meta.read_text())["epoch"]) if meta.is_file() else 0
    except (json.JSONDecodeError, KeyError, ValueError, OSError):
        return 0


def _last_epoch_logs(history_csv: Path) -> dict:
    """The last row of ``history.csv`` as ``{name: float}`` (the final epoch's logs)."""
    import csv

    if not history_csv.is_file():
        return {}
    with open(history_csv, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if (r.get("epoch") or "").strip().isdigit()]
    if not rows:
        return {}
    out = {}
    for k, v in rows[-1].items():
        if k == "epoch" or k is None:
            continue
        try:
            out[k] = _finite(v)
        except (TypeError, ValueError):
            continue
    return out


def _finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


