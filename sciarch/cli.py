"""The ``sciarch`` command.

Verbs: ``list``, ``run``, ``evaluate``, ``screen``, and each pipeline's own verbs under
``sciarch <pipeline> ...`` (e.g. ``sciarch genomics predict``). Configuration errors
print one line naming the key or file and exit with status 2.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer

from sciarch.config import ConfigError

app = typer.Typer(
    name="sciarch",
    help="Scientific deep-learning pipelines built from shared Keras 3 layers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)


#: extensions already mounted on ``app`` (main() may run more than once in one process, e.g. in tests)
_MOUNTED: set[str] = set()


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {' '.join(str(msg).split())}", err=True)  # one line, whatever the message holds
    raise typer.Exit(code)


@app.command("list")
def list_cmd() -> None:
    """List the registered pipelines and their config files.

    Example: `sciarch list`
    """
    from sciarch.pipeline import PROJECT_ROOT, available_pipelines

    for name, cls in available_pipelines().items():
        typer.echo(f"{name:12s} {cls.description}")
        for cfg in cls.config_files():
            try:
                rel = cfg.relative_to(Path.cwd())
            except ValueError:
                rel = cfg.relative_to(PROJECT_ROOT) if cfg.is_relative_to(PROJECT_ROOT) else cfg
            typer.echo(f"{'':12s}   {rel}")


@app.command("run")
def run_cmd(
    pipeline: str = typer.Argument(..., help="registered pipeline name (see `sciarch list`)"),
    config: Path = typer.Option(..., "--config", "-c", help="YAML config file"),
    set_: Optional[list[str]] = typer.Option(None, "--set", "-s", help="override a key: key.sub=value (repeatable)"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory (default runs/PIPELINE/TIMESTAMP)"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="retrain from scratch when --out holds a finished run or one of another config"
    ),
) -> None:
    """Train, evaluate and report a pipeline; the run directory holds config, metrics, model and report.

    Examples:

    * `sciarch run genomics --config configs/genomics/quick.yaml`
    * `sciarch run drugscreen -c configs/drugscreen/davis_quick.yaml --set train.epochs=3 --out runs/davis`

    Running the same command again after an interruption resumes from the last finished epoch
    (or stage: export, evaluation, report). A finished `--out` directory is left alone unless
    `--overwrite` is given.
    """
    from sciarch.config import load_config

    try:
        cfg = load_config(config, set_, pipeline=pipeline)
    except ConfigError as exc:
        _fail(str(exc))
    if out is not None and not overwrite and "TF_CONFIG" not in os.environ:
        # refuse a finished or foreign --out before TensorFlow is imported (multi-worker runs
        # keep one directory per worker and are checked by the runner)
        from sciarch.config import dump_config
        from sciarch.runs import Run, config_hash

        text = dump_config(cfg)
        try:
            Run.check_reuse(out, text, config_hash(text))
        except ConfigError as exc:
            _fail(str(exc))
    from sciarch.runner import run_pipeline

    try:
        run = run_pipeline(cfg, out=out, overwrite=overwrite)
    except ConfigError as exc:  # includes FinishedRunError: nothing was touched
        _fail(str(exc))
    typer.echo(f"run directory: {run.dir}")
    typer.echo(f"report: {run.dir / 'report.md'}")
    if run.metrics_path.is_file():
        m = json.loads(run.metrics_path.read_text())
        typer.echo(f"{m.get('headline_metric')}: {m.get('headline')}")


@app.command("evaluate")
def evaluate_cmd(
    run_dir: Path = typer.Argument(..., help="a run directory made by `sciarch run`"),
    split: str = typer.Option("validation", "--split", help="a split the pipeline knows"),
    data: Optional[Path] = typer.Option(
        None, "--data", help="file or folder in the embedded data's format (plain or .gz) to score instead of a split"
    ),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="metrics JSON path (default RUN_DIR/eval_NAME.json, NAME = the split or the --data file name)"),
) -> None:
    """Score a trained run on a split or on new data; writes metrics JSON.

    Examples:

    * `sciarch evaluate runs/genomics/20261121-120000`
    * `sciarch evaluate runs/genomics/20261121-120000 --data my_windows.fa.gz`
    """
    from sciarch.runs import open_run

    try:
        opened = open_run(run_dir)
    except ConfigError as exc:
        _fail(str(exc))
    cls = opened.pipeline_cls
    if data is None and split not in cls.splits:
        _fail(f"--split {split!r}: pipeline '{cls.name}' knows {', '.join(cls.splits)}")
    if data is not None and not data.exists():
        _fail(f"--data {data}: no such file or folder")
    from sciarch.runs import write_json_atomic

    try:
        model = opened.load_model()  # imports TensorFlow: after the checks above
    except (ConfigError, FileNotFoundError) as exc:
        _fail(str(exc))
    pipeline = opened.pipeline()
    try:
        metrics = pipeline.evaluate(model, split, data_path=str(data) if data is not None else None)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    name = data.name.split(".")[0] if data is not None else split
    dest = out or run_dir / f"eval_{name}.json"
    write_json_atomic(dest, {"run": str(run_dir), "data": str(data) if data else None,
                             "split": None if data is not None else split,
                             "metrics": metrics})
    typer.echo(json.dumps(metrics, indent=2, default=float))
    typer.echo(f"written: {dest}")


@app.command("demo")
def demo_cmd(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="parent folder of the demo runs"),
    only: Optional[list[str]] = typer.Option(None, "--only", help="run only these pipelines (repeatable)"),
) -> None:
    """Run every registered pipeline's quick config end to end on the embedded data.

    Prints where each report is. Re-running resumes unfinished runs and reports finished
    ones as already done.

    Example: `sciarch demo --out runs/demo --only genomics`
    """
    import time

    from sciarch.config import load_config
    from sciarch.pipeline import available_pipelines
    from sciarch.runner import run_pipeline
    from sciarch.runs import FinishedRunError

    reports, failed = [], []
    for name, cls in available_pipelines().items():
        if name.startswith("_") or (only and name not in only):
            continue
        cfg_path = cls.quick_config()
        if cfg_path is None:
            typer.echo(f"[{name}] no quick config under configs/{name}/, skipped", err=True)
            continue
        typer.echo(f"[{name}] {cfg_path}")
        t0 = time.perf_counter()
        try:
            run = run_pipeline(load_config(cfg_path, pipeline=name), out=out / name)
        except FinishedRunError as exc:
            typer.echo(f"[{name}] already done: {exc.run_dir / 'report.md'}")
            reports.append((name, exc.run_dir / "report.md", 0.0, "done"))
            continue
        except ConfigError as exc:
            typer.echo(f"error: {exc}", err=True)
            failed.append(name)
            continue
        reports.append((name, run.dir / "report.md", time.perf_counter() - t0, ""))
    typer.echo("")
    for name, rep, secs, note in reports:
        took = f"{'done':>7s}  " if note else f"{secs:7.1f} s"
        typer.echo(f"{name:12s} {took}  {rep}")
    if failed:
        _fail(f"demo failed for: {', '.join(failed)}", code=1)


#: verbs defined in this module: they need no pipeline verbs mounted (discovery imports TensorFlow)
_OWN_VERBS = ("list", "run", "evaluate", "demo")


def _mount_extensions(argv: list[str] | None = None) -> None:
    """Mount pipeline verbs (``sciarch <pipeline> ...``) and the screening verb.

    ``sciarch screen`` needs no pipeline registry, so it skips discovery (which imports
    every pipeline and TensorFlow) and its worker processes start at once; the verbs of
    this module (``run``, ``evaluate``, ...) skip it too, so that a config error is
    reported before TensorFlow is imported.
    """
    from sciarch.pipeline import available_pipelines

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["screen"]:
        _mount_screen()
        return
    if args[:1] and args[0] in _OWN_VERBS:
        return
    if "pipelines" in _MOUNTED:
        return
    _MOUNTED.add("pipelines")
    for name, cls in available_pipelines().items():
        try:
            sub = cls.cli()
        except ImportError as exc:  # one broken extension must not take the other verbs down
            typer.echo(f"warning: the '{name}' verbs are unavailable ({exc})", err=True)
            continue
        if sub is not None:
            app.add_typer(sub, name=name, help=f"{cls.description} (extra verbs)")
    _mount_screen()


def _mount_screen() -> None:
    if "screen" in _MOUNTED:
        return
    _MOUNTED.add("screen")
    try:
        from sciarch.screening.cli import screen
    except ImportError as exc:  # a broken screening install must not take the other verbs down
        typer.echo(f"warning: the 'screen' verb is unavailable ({exc})", err=True)
        return
    app.command("screen")(screen)


class _QuietImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Import one top-level module (TensorFlow) with file descriptor 2 sent to /dev/null.

    TensorFlow 2.21 writes its start-up messages (oneDNN, CUDA stubs, "All log messages
    before absl::InitializeLog() ...") from C++ during ``import tensorflow``, before
    ``TF_CPP_MIN_LOG_LEVEL`` is read, so the variable alone does not silence them. The
    finder acts once, then removes itself; an import error still propagates (and prints)
    after stderr is restored.
    """

    def __init__(self, name: str):
        self.name = name
        self._spec = None

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name or self._spec is not None:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self._spec = spec
        spec.loader, self._loader = self, spec.loader
        return spec

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self._spec.loader = self._loader
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, 2)
            finally:
                os.close(null)
            self._loader.exec_module(module)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        import logging

        logging.getLogger("tensorflow").setLevel(logging.ERROR)
        try:
            from absl import logging as absl_logging

            absl_logging.set_verbosity(absl_logging.ERROR)
        except ImportError:  # pragma: no cover - absl comes with TensorFlow
            pass

    def __getattr__(self, item):  # get_resource_reader & co. of the real loader
        loader = self.__dict__.get("_loader")
        if loader is None:
            raise AttributeError(item)
        return getattr(loader, item)


def _quiet_tensorflow() -> None:
    """Silence TensorFlow's C++/absl start-up logs unless the user asked for them.

    ``TF_CPP_MIN_LOG_LEVEL=0`` (or 1) shows TensorFlow's logs. ``sciarch/__init__`` sets
    a default of 2, which cannot be told apart from a user's 2, so 2 counts as "quiet"
    and is raised to 3 (the CUDA probe on a machine without a GPU logs at ERROR level).
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip()
    if level not in ("", "2", "3") or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if not any(isinstance(f, _QuietImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImport("tensorflow"))


def main(argv: list[str] | None = None) -> None:
    _quiet_tensorflow()
    _mount_extensions(argv)
    try:
        app(args=argv, prog_name="sciarch", standalone_mode=True)
    except ConfigError as exc:  # raised from a pipeline verb
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
