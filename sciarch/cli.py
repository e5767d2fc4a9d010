"""The ``sciarch`` command.

Verbs: ``list``, ``run``, ``evaluate``, ``screen``, and each pipeline's own verbs under
``sciarch <pipeline> ...`` (e.g. ``sciarch genomics predict``). Configuration errors
print one line naming the key or file and exit with status 2.
"""

from __future__ import annotations

import json
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
    typer.echo(f"error: {msg}", err=True)
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
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="run directory (default runs/<pipeline>/<timestamp>)"),
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
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="metrics JSON path (default <run>/eval_<name>.json)"),
) -> None:
    """Score a trained run on a split or on new data; writes metrics JSON.

    Examples:

    * `sciarch evaluate runs/genomics/20261121-120000`
    * `sciarch evaluate runs/genomics/20261121-120000 --data my_windows.fa.gz`
    """
    from sciarch.config import read_yaml, validate
    from sciarch.pipeline import get_pipeline_class
    from sciarch.runner import load_run_model
    from sciarch.runs import write_json_atomic

    if not (run_dir / "config.yaml").is_file():
        _fail(f"{run_dir}: not a run directory (no config.yaml)")
    try:
        raw = read_yaml(run_dir / "config.yaml")
        cls = get_pipeline_class(raw.get("pipeline", ""))
        cfg = validate(raw, cls.config_cls, str(run_dir / "config.yaml"))
    except ConfigError as exc:
        _fail(str(exc))
    if data is None and split not in cls.splits:
        _fail(f"--split {split!r}: pipeline '{cls.name}' knows {', '.join(cls.splits)}")
    if data is not None and not data.exists():
        _fail(f"--data {data}: no such file or folder")
    try:
        model = load_run_model(run_dir)
    except FileNotFoundError as exc:
        _fail(str(exc))
    pipeline = cls(cfg, run_dir)
    try:
        metrics = pipeline.evaluate(model, split, data_path=str(data) if data is not None else None)
    except (ConfigError, ValueError) as exc:
        _fail(str(exc))
    name = data.name.split(".")[0] if data is not None else split
    dest = out or run_dir / f"eval_{name}.json"
    write_json_atomic(dest, {"run": str(run_dir), "data": str(data) if data else None, "split": split,
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


def _mount_extensions(argv: list[str] | None = None) -> None:
    """Mount pipeline verbs (``sciarch <pipeline> ...``) and the screening verb.

    ``sciarch screen`` needs no pipeline registry, so it skips discovery (which imports
    every pipeline and TensorFlow) and its worker processes start at once.
    """
    from sciarch.pipeline import available_pipelines

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["screen"]:
        _mount_screen()
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
    from sciarch.screening.cli import screen

    app.command("screen")(screen)


def main(argv: list[str] | None = None) -> None:
    _mount_extensions(argv)
    try:
        app(args=argv, prog_name="sciarch", standalone_mode=True)
    except ConfigError as exc:  # raised from a pipeline verb
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
