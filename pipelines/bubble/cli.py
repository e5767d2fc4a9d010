"""Extra verbs: ``sciarch bubble detect --model RUN --image FILE...`` and ``sciarch bubble simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("detect")
def detect(
    model: Path = typer.Option(..., "--model", help="run directory holding model.keras"),
    image: list[Path] = typer.Option(..., "--image", help="image file(s) (PNG/JPEG/TIFF; grey or colour)"),
    out: Path = typer.Option(None, "--out", help="output folder (default: <run>/detect)"),
    scale: float = typer.Option(0.5, help="resize factor before detection (match the training pixel scale)"),
    score: float = typer.Option(0.3, help="lowest score written"),
) -> None:
    """Detect tracks: write <image>.boxes.json and <image>.overlay.png per image."""
    from sciarch.runner import load_run_model

    from pipelines.bubble.pipeline import detect_files

    for p in image:
        if not p.is_file():
            raise typer.BadParameter(f"{p}: no such image file", param_hint="--image")
    net = load_run_model(model)
    pngs, jsons = detect_files(net, image, out or Path(model) / "detect", scale=scale, score_threshold=score)
    for j, p in zip(jsons, pngs):
        typer.echo(f"{j}\n{p}")


@app.command("simulate")
def simulate_cmd(
    out: Path = typer.Option(..., "--out", help="output .npz (or .npz.gz) in the embedded format"),
    n: int = typer.Option(64, help="number of frames"),
    seed: int = typer.Option(0),
    size: int = typer.Option(256, help="frame side in pixels"),
    min_tracks: int = typer.Option(5),
    max_tracks: int = typer.Option(80),
) -> None:
    """Simulate labelled frames (for `sciarch evaluate bubble --data ...` or inspection)."""
    from pipelines.bubble.data import save_npz, simulate
    from pipelines.bubble.simulation import SimulatorConfig

    cfg = SimulatorConfig(image_size=(size, size), tracks_per_image=(min_tracks, max_tracks))
    sample = simulate(cfg, n, seed, progress=True)
    path = save_npz(sample, out, compress_gzip=str(out).endswith(".gz"))
    typer.echo(f"{path}: {n} frames, {int(sample.n_tracks.sum())} labelled tracks")
