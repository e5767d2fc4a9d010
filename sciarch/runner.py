"""The one generic runner: every pipeline trains, evaluates, exports and reports through it.

It owns the strategy scope, ``compile`` and ``fit``, the callbacks (progress bar,
TensorBoard, best-weights checkpoint, BackupAndRestore with one directory per
worker, TerminateOnNaN, early stopping from config), export of ``model.keras``, the
run directory, ``metrics.json`` and ``report.md``.

Running the same command again after a crash (``kill -9``) resumes: without
``--out`` the newest unfinished run of the same configuration is reused, and
BackupAndRestore restores the weights, optimiser and epoch counter.

Example:
    >>> from sciarch.config import load_config   # doctest: +SKIP
    >>> from sciarch.runner import run_pipeline  # doctest: +SKIP
    >>> run = run_pipeline(load_config("configs/genomics/quick.yaml"))  # doctest: +SKIP
    >>> run.dir / "report.md"  # doctest: +SKIP
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from sciarch.config import ConfigError, PipelineConfig, TrainConfig, dump_config
from sciarch.distribute import distribute_inputs, make_strategy, worker_info
from sciarch.losses import with_loss
from sciarch.pipeline import Pipeline, get_pipeline_class
from sciarch.runs import Run, config_hash
from sciarch.viz import plot_training_curves


def make_optimizer(train: TrainConfig) -> keras.optimizers.Optimizer:
    kw = {"learning_rate": train.learning_rate}
    if train.clipnorm:
        kw["clipnorm"] = train.clipnorm
    if train.optimizer == "adam":
        return keras.optimizers.Adam(**kw)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(weight_decay=train.weight_decay or 1e-4, **kw)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(momentum=0.9, **kw)
    return keras.optimizers.RMSprop(**kw)


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
        _drop_history_from(Path(self.filename), epoch)
        super().on_train_begin()  # reopen for appending; the header is written only if missing


def _drop_history_from(path: Path, epoch: int) -> None:
    if not path.is_file():
        return
    lines = path.read_text().splitlines()
    if not lines:
        return
    kept = [lines[0]]
    for line in lines[1:]:
        head = line.split(",", 1)[0].strip()
        if head.isdigit() and int(head) < epoch:
            kept.append(line)
    if len(kept) != len(lines):
        tmp = path.with_suffix(".csv.tmp")
        tmp.write_text("\n".join(kept) + "\n")
        tmp.replace(path)


def _callbacks(run: Run, cfg: PipelineConfig, has_validation: bool, chief: bool, worker: int) -> list:
    t = cfg.train
    monitor = t.early_stopping.monitor if t.early_stopping else ("val_loss" if has_validation else "loss")
    if monitor.startswith("val_") and not has_validation:
        monitor = monitor[4:]
    cbs: list = [keras.callbacks.TerminateOnNaN()]
    if chief:  # the history row of an epoch is written before that epoch is backed up
        cbs.append(ResumableCSVLogger(str(run.history_path)))
    if t.backup_and_restore:
        cbs.append(
            keras.callbacks.BackupAndRestore(str(run.backup_dir(worker)), delete_checkpoint=True, double_checkpoint=True)
        )
    if chief:
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
    return cbs


def _verbose(t: TrainConfig) -> int:
    if t.verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    return int(t.verbose)


def build_training(pipeline: Pipeline, strategy: tf.distribute.Strategy):
    """Build model, loss and compiled training model inside ``strategy``'s scope."""
    cfg = pipeline.config
    with strategy.scope():
        model = pipeline.build_model()
        loss = pipeline.build_loss()
        trainable = with_loss(model, loss) if loss is not None else model
        trainable.compile(
            optimizer=make_optimizer(cfg.train),
            metrics=pipeline.build_metrics() or None,
            jit_compile=cfg.train.jit_compile,
        )
    return model, trainable


def run_pipeline(cfg: PipelineConfig, out: str | Path | None = None, runs_root: str | Path = "runs") -> Run:
    """Train, evaluate, export and report one pipeline from a validated config."""
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
    directory = Path(out) if out is not None else Run.new_dir(runs_root, cfg.pipeline, chash)
    if chief:
        run = Run.create(directory, text, chash)
    else:  # other workers write into their own scratch run (checkpoints stay per worker)
        run = Run.create(Path(directory) / f"_worker_{winfo.task_id}", text, chash)
    pipeline = cls(cfg, run.dir)

    has_val = "validation" in cls.splits
    train_ds = distribute_inputs(strategy, lambda ctx: pipeline.build_inputs("train", ctx))
    val_ds = distribute_inputs(strategy, lambda ctx: pipeline.build_inputs("validation", ctx)) if has_val else None
    model, trainable = build_training(pipeline, strategy)

    history = trainable.fit(
        train_ds,
        validation_data=val_ds,
        epochs=cfg.train.epochs,
        steps_per_epoch=pipeline.steps_per_epoch(),
        validation_steps=cfg.train.validation_steps if has_val else None,
        callbacks=_callbacks(run, cfg, has_val, chief, winfo.task_id),
        verbose=_verbose(cfg.train),
        shuffle=False,
    )
    train_time = time.perf_counter() - t0

    if not chief:
        # only the chief evaluates and reports; each other worker keeps its final model in
        # its own run directory (<out>/_worker_K/model.keras) so replicas can be compared
        model.save(run.model_path)
        run.finish(time.perf_counter() - t0)
        return run

    model.save(run.model_path)
    if winfo.num_workers > 1:
        # predict() on the strategy's model would issue collectives the other workers no
        # longer join: evaluate and report with the exported copy, outside the strategy
        model = keras.models.load_model(run.model_path, compile=False)
    last = {k: _finite(v[-1]) for k, v in history.history.items() if v}
    eval_split = "validation" if has_val else cls.splits[0]
    evaluation = pipeline.evaluate(model, eval_split)
    metrics = {
        "pipeline": cfg.pipeline,
        "split": eval_split,
        "headline_metric": cls.headline_metric,
        "headline": evaluation.get(cls.headline_metric),
        "evaluation": evaluation,
        "final_epoch_logs": last,
        "epochs_completed": len(_read_epochs(run.history_path)),
        "train_wall_time_s": round(train_time, 2),
        "replicas": strategy.num_replicas_in_sync,
        "workers": winfo.num_workers,
    }
    run.write_metrics(metrics)
    if cfg.report.enabled:
        write_report(run, pipeline, model, metrics)
    run.finish(time.perf_counter() - t0)
    return run


def _finite(v):
    v = float(v)
    return v if math.isfinite(v) else None


def _read_epochs(history_csv: Path) -> list[str]:
    if not history_csv.is_file():
        return []
    lines = history_csv.read_text().splitlines()[1:]
    return [ln for ln in lines if ln.strip() and not ln.startswith("epoch")]


def write_report(run: Run, pipeline: Pipeline, model: keras.Model, metrics: dict) -> Path:
    """``report.md`` with the training curves, the metrics table and the pipeline's own plots."""
    dpi = pipeline.config.report.dpi
    figures: list[Path] = []
    if run.history_path.is_file() and _read_epochs(run.history_path):
        figures.append(plot_training_curves(run.history_path, run.dir / "training_curves.png", dpi=dpi))
    figures += [Path(p) for p in pipeline.report(run, model, metrics) or []]
    lines = [
        f"# {pipeline.name} run report",
        "",
        pipeline.description,
        "",
        f"- run directory: `{run.dir}`",
        f"- epochs completed: {metrics.get('epochs_completed')}; training wall time {metrics.get('train_wall_time_s')} s; "
        f"replicas {metrics.get('replicas')}, workers {metrics.get('workers')}",
        f"- headline ({metrics.get('headline_metric')}): {_fmt(metrics.get('headline'))}",
        "",
        f"## Metrics ({metrics.get('split')})",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {_fmt(v)} |" for k, v in _flatten(metrics.get("evaluation", {})).items()]
    lines += ["", "## Figures", ""]
    for fig in figures:
        rel = fig.relative_to(run.dir) if fig.is_relative_to(run.dir) else fig
        lines += [f"### {fig.stem.replace('_', ' ')}", "", f"![{fig.stem}]({rel})", ""]
    lines += ["## Configuration", "", "```yaml", run.config_path.read_text().rstrip(), "```", ""]
    path = run.dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)) and len(v) > 8:
            continue
        else:
            out[key] = v
    return out


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v)


def load_run_model(run_dir: str | Path) -> keras.Model:
    """Load ``<run>/model.keras`` with every sciarch and pipeline class registered."""
    import sciarch.layers  # noqa: F401  (register layers)
    from sciarch.pipeline import discover

    discover()
    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no trained model in this run directory")
    return keras.models.load_model(path, safe_mode=True, compile=False)
