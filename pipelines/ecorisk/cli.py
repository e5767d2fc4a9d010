"""Extra verbs of the ecological-risk pipeline, mounted as ``sciarch ecorisk ...``.

* ``predict --model RUN --rasters DIR --out risk.tif`` -> the risk GeoTIFF (on the grid of
  ``DIR``'s ``fcc23.tif`` at the run's grid scale, CRS and transform of that grid, nodata
  -9999) and ``risk.png`` (map with a colour-bar legend), for a folder of GeoTIFF layers in
  the embedded layout (``data/ecorisk/guadeloupe``: ``fcc23.tif``, the feature layers,
  ``pa.tif``, ``AGB.tif`` for biomass importance). Raster runs are normalised with their
  training statistics (:meth:`EcoRiskPipeline.external_raster`); points runs map the layers
  at ``data.map_scale``. The code is the report's (:func:`pipelines.ecorisk.report.write_risk_map`).

Example:
    sciarch ecorisk predict --model runs/ecorisk/2026... --rasters my_tiles/ --out my_risk.tif
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(help="Deforestation-risk verbs.", no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    """Deforestation-risk verbs (a group even with one verb: ``sciarch ecorisk predict ...``)."""


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


@app.command("predict")
def predict(
    model: Path = typer.Option(..., "--model", help="run directory holding model.keras (and config.yaml)"),
    rasters: Path = typer.Option(..., "--rasters", help="folder of GeoTIFF layers in the embedded layout"),
    out: Path = typer.Option(..., "--out", help="output GeoTIFF (the PNG is written next to it)"),
) -> None:
    """Write the deforestation-risk map of a folder of rasters: OUT (GeoTIFF) and OUT.png."""
    from sciarch.config import ConfigError
    from sciarch.runs import open_run

    from pipelines.ecorisk.spatial import EcoDataError

    if not rasters.is_dir():
        _fail(f"{rasters}: no such raster folder")
    out = Path(out)
    if out.suffix.lower() not in (".tif", ".tiff"):
        _fail(f"--out {out}: expected a .tif / .tiff file name")
    try:
        opened = open_run(model, pipeline="ecorisk")
        if opened.config.data.dataset == "amazon_grid":
            raise ConfigError(f"{model}: an 'amazon_grid' run maps 25 km cells, not raster layers "
                              "(use a guadeloupe_raster or guadeloupe_points run)")
        pipe = opened.pipeline()
        net = opened.load_model()
        from pipelines.ecorisk.report import write_risk_map

        out.parent.mkdir(parents=True, exist_ok=True)
        (png,) = write_risk_map(pipe, net, out.parent, opened.config.report.dpi, rasters=rasters, tif=out)
    except (ConfigError, EcoDataError) as exc:
        _fail(str(exc))
    typer.echo(f"{out}\n{png}")
