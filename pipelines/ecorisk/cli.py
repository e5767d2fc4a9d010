"""Extra verbs of the ecological-risk pipeline, mounted as ``sciarch ecorisk ...``.

* ``predict --model RUN --rasters DIR --out risk.tif`` -> the risk GeoTIFF (on the grid of
  ``DIR``'s ``fcc23.tif`` at the run's grid scale, CRS and transform of that grid, nodata
  -9999) and ``risk.png`` (map with a colour-bar legend), for a folder of GeoTIFF layers in
  the embedded layout (``data/ecorisk/guadeloupe``: ``fcc23.tif``, the feature layers,
  ``pa.tif``, ``AGB.tif`` for biomass importance). Raster runs are normalised with their
  training statistics (:meth:`EcoRiskPipeline.external_raster`); points runs map the layers
  at ``data.map_scale``. The code is the report's (:func:`pipelines.ecorisk.report.write_risk_map`).

* ``forecast --risk risk.tif --horizon 2050 (--rate-ha R | --fcc fcc23.tif --period 10) --out f.tif``
  -> the forest cover expected at the horizon (the expected deforested area allocated to the
  highest-risk pixels, :mod:`pipelines.ecorisk.forecast`) and ``f.csv``, one row per year.

Example:
    sciarch ecorisk predict --model runs/ecorisk/2026... --rasters my_tiles/ --out my_risk.tif
    sciarch ecorisk forecast --risk my_risk.tif --fcc data/ecorisk/guadeloupe/fcc23.tif --period 10 \
        --start 2020 --horizon 2050 --out forest_2050.tif
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


@app.command("forecast")
def forecast_cmd(
    risk: Path = typer.Option(..., "--risk", help="risk GeoTIFF (from predict or a run's risk_map.tif)"),
    out: Path = typer.Option(..., "--out", help="output GeoTIFF of the forest cover at the horizon"),
    horizon: int = typer.Option(..., "--horizon", help="horizon year"),
    start: int = typer.Option(2020, "--start", help="year of the forest cover the risk map starts from"),
    rate_ha: float = typer.Option(None, "--rate-ha", help="deforestation rate, hectares per year"),
    fcc: Path = typer.Option(None, "--fcc", help="forest-cover-change raster (0 = deforested) to estimate the rate"),
    period: float = typer.Option(10.0, "--period", help="years covered by --fcc"),
    table: Path = typer.Option(None, "--table", help="CSV table (default: OUT with .csv)"),
) -> None:
    """Expected forest loss by HORIZON: forest-cover GeoTIFF (1 forest, 0 lost, 255 nodata) and a yearly CSV."""
    from sciarch.io.raster import RasterReadError

    from pipelines.ecorisk.forecast import rate_from_fcc, write_forecast
    from pipelines.ecorisk.spatial import EcoDataError

    if (rate_ha is None) == (fcc is None):
        _fail("give exactly one of --rate-ha or --fcc")
    if Path(out).suffix.lower() not in (".tif", ".tiff"):
        _fail(f"--out {out}: expected a .tif / .tiff file name")
    try:
        rate = rate_ha if rate_ha is not None else rate_from_fcc(fcc, period)
        tif, csv_path = write_forecast(risk, out, rate, start, horizon, table)
    except (EcoDataError, RasterReadError) as exc:
        _fail(str(exc))
    typer.echo(f"rate {rate:.2f} ha/year\n{tif}\n{csv_path}")
