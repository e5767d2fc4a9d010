"""Extra verbs: ``sciarch bubble detect --model RUN --image FILE...`` and ``sciarch bubble simulate``."""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("detect")
def detect(
    model: Path = typer.Option(None, "--model", help="run directory holding model.keras (and config.yaml); "
                               "needed with --method model"),
    image: list[Path] = typer.Option(..., "--image", help="image file(s) (PNG/JPEG/TIFF; grey or colour, 8 or 16 bit)"),
    method: str = typer.Option("model", "--method", help="'model' (the trained run) or 'classical' (RANSAC track "
                               "finder on the dark bubbles, no training; --score does not apply)"),
    out: Path = typer.Option(None, "--out", help="output folder (default: RUN/detect; ./detect with --method classical)"),
    scale: float = typer.Option(0.5, help="resize factor before detection, in (0, 4] (match the training pixel scale)"),
    score: float = typer.Option(0.3, help="lowest score written, in [0, 1]"),
    field_t: float = typer.Option(None, "--field-t", help="magnetic field in tesla for the p_T readout "
                                  "(default: the run's data.simulator.field_t)"),
    pixel_mm: float = typer.Option(None, "--pixel-mm", help="chamber mm per model pixel (default: the run's "
                                   "data.simulator.pixel_mm)"),
    consensus: int = typer.Option(1, help="--method classical: run the random search N times (seeds 0..N-1) and "
                                  "keep the tracks most runs find (N times slower, fewer false tracks)"),
) -> None:
    """Detect tracks: write IMAGE.boxes.json, IMAGE.tracks.csv and IMAGE.overlay.png per image.

    --method classical needs no trained run: a RANSAC circle finder on the scan's dark bubbles
    (fragments of one track joined), then spirals (closed loops of bubbles, searched at twice the
    scale; class 'spiral', no charge sign), which on the labelled real film finds more tracks than
    the CPU-trained detectors; each track also gets its polyline (ordered bubbles). Use --scale 0.5
    for scans at the resolution of the embedded real scan. --consensus 5 keeps only the tracks
    that most of 5 runs of the random search find.

    Per track, the bubbles in its box are fitted with a circle: p_T = 0.2998 |z| B R (GeV/c,
    tesla, metres; one scan pixel = pixel_mm * scale mm), the charge sign from the curl
    direction (tracks assumed to travel towards +x) and the fit residual.

    Every image is checked (opened and decoded) before any detection: an unreadable one
    stops the command with one error line and nothing is written. Images larger than one
    training frame (after --scale) are detected in overlapping tiles of the training frame
    size, merged across seams. Images with the same file name get
    FOLDER_IMAGE outputs (the parent folder's name first).
    """
    from sciarch.config import ConfigError
    from sciarch.runs import open_run

    from pipelines.bubble.inference import ClassicalFinder, check_images, check_scale
    from pipelines.bubble.simulation import SimulatorConfig

    if method not in ("model", "classical"):
        _fail(f"--method {method!r}: must be 'model' or 'classical'")
    if consensus < 1 or (consensus > 1 and method != "classical"):
        _fail(f"--consensus {consensus}: must be >= 1, and applies to --method classical only")
    if method == "model" and model is None:
        _fail("--model RUN is required with --method model (or use --method classical, which needs no run)")
    try:
        check_scale(scale, score)
        check_images(image)
        opened = open_run(model, pipeline="bubble") if method == "model" else None
    except ConfigError as exc:
        _fail(str(exc))
    if opened is not None:
        tile = tuple(int(v) for v in opened.config.data.image_size)  # the training frame: the tile size
        sim = SimulatorConfig(image_size=tile, **opened.config.data.simulator)
    else:
        tile, sim = None, SimulatorConfig()
    field_t = sim.field_t if field_t is None else field_t
    pixel_mm = sim.pixel_mm if pixel_mm is None else pixel_mm
    if field_t == 0 or pixel_mm <= 0:
        _fail(f"--field-t {field_t} / --pixel-mm {pixel_mm}: need a non-zero field and a positive pixel size")
    from pipelines.bubble.inference import detect_files

    try:
        net = opened.load_model() if opened is not None else ClassicalFinder(consensus=consensus)
        default_out = Path(model) / "detect" if opened is not None else Path("detect")
        pngs, jsons = detect_files(net, image, out or default_out, scale=scale, score_threshold=score,
                                   tile_size=tile, progress=True, field_t=field_t, pixel_mm=pixel_mm)
    except ConfigError as exc:
        _fail(str(exc))
    for j, p in zip(jsons, pngs):
        typer.echo(f"{j}\n{p}")


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


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
