"""``report.md`` of a run: training curves, the metrics table, the pipeline's own figures."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sciarch.viz import plot_training_curves

if TYPE_CHECKING:  # pragma: no cover
    import keras

    from sciarch.pipeline import Pipeline
    from sciarch.runs import Run


def read_epochs(history_csv: Path) -> list[str]:
    if not history_csv.is_file():
        return []
    lines = history_csv.read_text().splitlines()[1:]
    return [ln for ln in lines if ln.strip() and not ln.startswith("epoch")]


def write_report(run: Run, pipeline: Pipeline, model: keras.Model, metrics: dict) -> Path:
    """``report.md`` with the training curves, the metrics table and the pipeline's own plots."""
    dpi = pipeline.config.report.dpi
    figures: list[Path] = []
    if run.history_path.is_file() and read_epochs(run.history_path):
        figures.append(plot_training_curves(run.history_path, run.dir / "training_curves.png", dpi=dpi))
    for member_history in sorted(run.dir.glob("members/*/history.csv"), key=lambda p: int(p.parent.name)):
        if read_epochs(member_history):  # train.ensemble: one set of curves per member
            out = run.dir / f"training_curves_member{member_history.parent.name}.png"
            figures.append(plot_training_curves(member_history, out, dpi=dpi))
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


#: files of a finished run that every shipped reference model (``models/<name>/``) keeps
REFERENCE_RUN_FILES = ("model.keras", "config.yaml", "metrics.json", "history.csv")


def card_rebuild_and_use(rebuild: list[str], wall_s: float, machine: str, use: list[str]) -> list[str]:
    """The closing sections of a reference model's card (``README.md``): the commands that rebuild
    it, its training wall time, and the commands that use it (markdown lines)."""
    return ["## Rebuild", "", "```bash", *rebuild, "```", "",
            f"Training wall time: {wall_s:.0f} s on {machine}.", "",
            "## Use", "", "```bash", *use, "```", ""]
