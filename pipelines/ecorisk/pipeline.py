"""Ecological-risk pipeline: deforestation risk trained with an ecological + fairness loss.

Reads top to bottom:

1. **Config** -- ``data`` picks the data set (Guadeloupe sample points, Guadeloupe rasters,
   Amazon grid), the importance layer (biomass, protected status, uniform), the zone layer
   (protected vs not, spatial block, latitude band) and the spatial split; ``model`` picks
   the tabular residual MLP or the fully-convolutional network.
2. **Inputs** -- ``(x, {"target", "importance", "zone"})`` batches (plus a per-pixel weight
   for rasters: 1 on valid pixels of the split), per-replica batch size, per-worker shards.
3. **Loss** -- ``ecological_fairness`` from the loss registry by default,
   ``L = BCE + λ_eco · mean(importance · y · −log p) + λ_fair · Var_z(mean p in zone z)``;
   λ's in ``loss.params``; ``num_zones`` filled in from the zone layer when not given.
4. **Evaluate** -- ROC-AUC, capture and importance-weighted capture at fixed alert budgets
   (top 5 / 10 / 20% flagged), flag rate per zone, Brier / ECE, importance-weighted FN rate,
   per-zone mean risk and zone gap (:mod:`pipelines.ecorisk.metrics`).
5. **Report** -- the risk map (Cloud-Optimized GeoTIFF on the input grid + PNG with a
   legend), the model next to its prior-corrected risk, a plain-BCE twin and a scikit-learn
   logistic regression at the same alert budgets, reliability diagram, per-zone mean risk
   beside the observed rates, and the trade-off curve over λ_fair when the benchmark has
   written one. ``sciarch ecorisk forecast`` turns a risk map into expected forest loss.

Example:
    >>> from pipelines.ecorisk.pipeline import EcoRiskConfig, EcoRiskPipeline
    >>> cfg = EcoRiskConfig.model_validate({"pipeline": "ecorisk", "data": {"dataset": "amazon_grid"}})
    >>> p = EcoRiskPipeline(cfg)
    >>> p.build_model().output_shape
    (None, 1)
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from sciarch.config import PipelineConfig, Section
from sciarch.pipeline import PROJECT_ROOT, Pipeline, register_pipeline

from pipelines.ecorisk import data as D
from pipelines.ecorisk.metrics import fit_logistic, per_zone_table, risk_metrics

log = logging.getLogger(__name__)


class EcoRiskData(Section):
    dataset: Literal["guadeloupe_points", "guadeloupe_raster", "amazon_grid"] = "guadeloupe_points"
    data_dir: str | None = Field(None, description="folder holding guadeloupe/ and amazon/ (default data/ecorisk)")
    features: list[str] | None = Field(None, description="input columns / raster layers (default per data set)")
    log_distances: bool = Field(True, description="log1p-transform distances and counts before z-scoring")
    importance: Literal["auto", "biomass", "protected", "uniform"] = Field(
        "auto", description="auto: biomass (AGB) for Guadeloupe, protected share for the Amazon grid")
    protected_weight: float = Field(5.0, gt=0, description="importance of protected land relative to other land")
    zone: Literal["protected", "block", "lat_band"] = "protected"
    lat_bands: list[float] = Field(default_factory=lambda: [-10.0, -5.0, 0.0], description="band edges (degrees)")
    amazon_threshold_km2: float = Field(0.0, ge=0, description="a cell-year is deforested when def > this")
    # spatial split
    split_seed: int = 0
    val_fraction: float = Field(0.15, ge=0, lt=1)
    test_fraction: float = Field(0.2, ge=0, lt=1)
    test_region: list[float] | None = Field(None, description="[xmin, ymin, xmax, ymax]: records inside are test")
    block_size_m: float | None = Field(None, gt=0, description="points: square blocks (m) instead of the 10 km 'cell'")
    # rasters
    scale: float = Field(3.0, ge=1, description="coarsen the 30 m grid by this factor (1 = native)")
    window: list[int] | None = Field(None, description="[col_off, row_off, width, height] on the (scaled) grid")
    raster_block_m: float = Field(10_000.0, gt=0, description="size of the square split blocks on the raster")
    patch_size: int = Field(32, ge=8)
    patch_stride: int | None = Field(16, ge=1)
    min_patch_fraction: float = Field(0.02, ge=0, le=1)
    augment: bool = True
    threshold: float = Field(0.5, gt=0, lt=1, description="decision threshold of the FN rates")
    map_scale: float = Field(3.0, ge=1, description="tabular models on points: grid coarsening of the report map")
    predict_tile: int = Field(512, ge=16, description="rasters: tile size (px) of the whole-map prediction")
    progress: bool = Field(True, description="rasters: progress bar over the prediction tiles")
    map_blocksize: int = Field(512, ge=16, description="tile size (px) of the Cloud-Optimized risk GeoTIFF; "
                               "overviews are built down to one tile")
    spatial_features: int = Field(0, ge=0, description="tabular: random Fourier features of the coordinates "
                                  "(learned spatial effect; 0 = none)")
    spatial_scale: float = Field(20_000.0, gt=0, description="length scale of the coordinate encoding "
                                 "(map units: m for Guadeloupe, degrees for the Amazon grid)")

    @model_validator(mode="after")
    def _check(self):
        if self.test_region is not None and len(self.test_region) != 4:
            raise ValueError("test_region needs 4 numbers [xmin, ymin, xmax, ymax]")
        if self.map_blocksize % 16:
            raise ValueError(f"map_blocksize must be a multiple of 16 (GeoTIFF tiles), got {self.map_blocksize}")
        if self.window is not None and len(self.window) != 4:
            raise ValueError("window needs 4 integers [col_off, row_off, width, height]")
        return self


class EcoRiskModel(Section):
    kind: Literal["auto", "tabular", "fcn"] = Field("auto", description="auto: fcn for rasters, tabular otherwise")
    hidden: int = Field(64, ge=1)
    depth: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    filters: int = Field(32, ge=1)
    dilations: list[int] = Field(default_factory=lambda: [1, 2, 4])
    normalization: Literal["batch", "layer", "instance", "none"] = Field(
        "layer", description="inside the FCN blocks ('layer' has no running statistics to settle)")
    baselines: list[Literal["logistic", "bce"]] = Field(default_factory=lambda: ["logistic", "bce"],
                                                        description="comparisons trained in report()")


class EcoRiskConfig(PipelineConfig):
    data: EcoRiskData = Field(default_factory=EcoRiskData)
    model: EcoRiskModel = Field(default_factory=EcoRiskModel)


@register_pipeline
class EcoRiskPipeline(Pipeline):
    """Deforestation risk (points, grid cells or raster pixels) with the ecological-fairness loss."""

    name = "ecorisk"
    description = "deforestation risk maps trained with BCE + ecological FN penalty + zone fairness"
    config_cls = EcoRiskConfig
    default_loss = "ecological_fairness"
    headline_metric = "auc"
    splits = D.SPLITS

    def __init__(self, config, run_dir=None):
        super().__init__(config, run_dir)
        self._table = None
        self._split = None
        self._x = None
        self._stats = None
        self._raster = None
        self._comparison = None

    # ------------------------------------------------------------------ data
    @property
    def is_raster(self) -> bool:
        return self.config.data.dataset == "guadeloupe_raster"

    def _load_table(self, path=None):
        cfg = self.config.data
        if cfg.dataset == "guadeloupe_points":
            return D.load_points(path, cfg)
        return D.load_amazon(path, cfg)

    def table(self):
        """The embedded table, its split ids and normalised features (cached)."""
        if self._table is None:
            td = self._load_table()
            split = D.spatial_split(td.group, td.x, td.y, self.config.data)
            x, stats = D.normalise_table(td, self.config.data, train_mask=split == D.SPLIT_ID["train"])
            self._table, self._split, self._x, self._stats = td, split, x, stats
        return self._table, self._split, self._x

    def raster(self):
        if self._raster is None:
            self._raster = D.load_raster(None, self.config.data)
        return self._raster

    def num_zones(self) -> int:
        if self.is_raster:
            return len(self.raster().zone_names)
        return len(self.table()[0].zone_names)

    def split_arrays(self, split: str):
        """``(x, target, importance, zone)`` numpy arrays of a split (pixels for rasters)."""
        if split not in self.splits:
            raise ValueError(f"unknown split '{split}' (one of {', '.join(self.splits)})")
        if self.is_raster:
            rd = self.raster()
            m = rd.valid & (rd.split == D.SPLIT_ID[split])
            return rd.features[m], rd.target[m], rd.importance[m], rd.zone[m]
        td, sp, x = self.table()
        m = sp == D.SPLIT_ID[split]
        return x[m], td.target[m], td.importance[m], td.zone[m]

    def build_inputs(self, split, input_context=None):
        if split not in self.splits:
            raise ValueError(f"unknown split '{split}' (one of {', '.join(self.splits)})")
        from sciarch.distribute import per_replica_batch_size

        bs = per_replica_batch_size(self.config.train.batch_size, input_context)
        shuffle = split == "train"
        if self.is_raster:
            return D.raster_dataset(self.raster(), split, self.config.data, bs, shuffle, self.config.seed,
                                    input_context, epoch=self.epoch)
        td, sp, x = self.table()
        m = sp == D.SPLIT_ID[split]
        if not m.any():
            raise ValueError(f"split '{split}' is empty for {td.source}")
        return D.tabular_dataset(x[m], td.subset(m), bs, shuffle, self.config.seed, input_context, epoch=self.epoch)

    # ------------------------------------------------------------------ model and loss
    def model_kind(self) -> str:
        k = self.config.model.kind
        if k == "auto":
            return "fcn" if self.is_raster else "tabular"
        if k == "fcn" and not self.is_raster:
            raise ValueError("model.kind 'fcn' needs data.dataset 'guadeloupe_raster'")
        if k == "tabular" and self.is_raster:
            raise ValueError("model.kind 'tabular' cannot take raster patches; use 'fcn'")
        return k

    def build_model(self):
        from pipelines.ecorisk.model import build_fcn_model, build_tabular_model

        mc = self.config.model
        kind = self.model_kind()
        prior = float(np.mean(self.split_arrays("train")[1]))
        if kind == "fcn":
            return build_fcn_model(len(self.raster().feature_names), mc.filters, tuple(mc.dilations),
                                   None if mc.normalization == "none" else mc.normalization, mc.dropout,
                                   prior=prior)
        return build_tabular_model(self._x_width(), mc.hidden, mc.depth, mc.dropout, prior=prior)

    def _x_width(self) -> int:
        return self.table()[2].shape[1]

    def build_loss(self, name: str | None = None, **overrides):
        """The configured loss; ``num_zones`` is filled in from the zone layer for
        ``ecological_fairness`` (a smaller configured value is an error)."""
        from sciarch.losses import get_loss

        configured = self.config.loss.name if self.config.loss.name != "default" else self.default_loss
        name = name or configured
        params = dict(self.config.loss.params) if name == configured else {}
        params.update(overrides)
        if name == "ecological_fairness":
            need = self.num_zones()
            if "num_zones" in params and int(params["num_zones"]) < need:
                raise ValueError(f"loss.params.num_zones={params['num_zones']} but data.zone "
                                 f"'{self.config.data.zone}' has {need} zones")
            params.setdefault("num_zones", need)
        return get_loss(name, **params)

    def build_metrics(self):
        import keras

        return [keras.metrics.AUC(name="auc"), keras.metrics.Recall(thresholds=self.config.data.threshold,
                                                                   name="recall")]

    # ------------------------------------------------------------------ evaluation
    def predict_split(self, model, split: str):
        """``(risk, target, importance, zone)`` of a split (raster: every valid pixel of it)."""
        if self.is_raster:
            rd = self.raster()
            risk_map = self.predict_raster(model, rd)
            m = rd.valid & (rd.split == D.SPLIT_ID[split])
            return risk_map[m], rd.target[m], rd.importance[m], rd.zone[m]
        x, t, imp, z = self.split_arrays(split)
        risk = np.asarray(model.predict(x, batch_size=4096, verbose=0)).ravel()
        return risk, t, imp, z

    def external_raster(self, folder) -> "D.RasterData":
        """The rasters of ``folder`` (embedded layout) on this run's grid scale, whole (no
        ``data.window``), normalised with the training statistics of the embedded data."""
        self.raster()  # training statistics
        ext_cfg = self.config.data.model_copy(update={"window": None})
        return D.load_raster(folder, ext_cfg, stats=self._raster.stats)

    def predict_raster(self, model, rd) -> np.ndarray:
        from pipelines.ecorisk.model import predict_map, receptive_radius

        cfg = self.config.data
        return predict_map(model, rd.features, tile=cfg.predict_tile,
                           margin=receptive_radius(self.config.model.dilations) + 2, progress=cfg.progress)

    def evaluate(self, model, split="test", data_path=None):
        cfg = self.config.data
        zone_names = None
        if data_path is not None:
            path = Path(data_path)
            if self.is_raster:
                if not path.is_dir():
                    raise ValueError(f"{path}: expected a folder of GeoTIFFs for data.dataset 'guadeloupe_raster'")
                rd = self.external_raster(path)
                risk_map = self.predict_raster(model, rd)
                risk, t, imp, z = risk_map[rd.valid], rd.target[rd.valid], rd.importance[rd.valid], rd.zone[rd.valid]
                zone_names = rd.zone_names
            else:
                self.table()
                td = self._load_table(path)
                x, _ = D.normalise_table(td, cfg, stats=self._stats)
                risk = np.asarray(model.predict(x, batch_size=4096, verbose=0)).ravel()
                t, imp, z, zone_names = td.target, td.importance, td.zone, td.zone_names
                if cfg.zone == "block":  # block ids of another file are not the training ids
                    z = None
        else:
            risk, t, imp, z = self.predict_split(model, split)
            zone_names = self.raster().zone_names if self.is_raster else self.table()[0].zone_names
        return risk_metrics(t, risk, imp, z, zone_names, threshold=cfg.threshold)

    # ------------------------------------------------------------------ report
    def baseline_logistic(self, split: str = "test"):
        """Logistic regression (scikit-learn) on the same normalised features: risk of ``split``."""
        xtr, ttr, _, _ = self.split_arrays("train")
        clf = fit_logistic(xtr, ttr, seed=self.config.seed)
        x, _, _, _ = self.split_arrays(split)
        return clf.predict_proba(x)[:, 1]

    def compare(self, model, split: str = "test"):
        """The comparison step: ``model`` next to the configured baselines on ``split``
        (:func:`pipelines.ecorisk.comparison.compare_models`; the BCE twin is trained here).
        Computed once per model and split, then reused."""
        from pipelines.ecorisk.comparison import compare_models

        cached = self._comparison
        if cached is None or cached[0] is not model or cached[1] != split:
            self._comparison = cached = (model, split, compare_models(self, model, split))
        return cached[2]

    def report(self, run, model, metrics):
        """Run the comparison step (once), then write the report files, which only read its result."""
        from pipelines.ecorisk import report as R

        return R.write_report(self, Path(run.dir), model, metrics, self.compare(model, "test"))

    # ------------------------------------------------------------------ CLI
    cli_module = "pipelines.ecorisk.cli"

    def results_file(self) -> Path:
        return PROJECT_ROOT / "benchmarks" / "results" / "ecorisk.json"

    def benchmark_results(self) -> dict | None:
        f = self.results_file()
        if not f.is_file():
            return None
        try:
            return json.loads(f.read_text())
        except json.JSONDecodeError:
            return None
