"""TFDS builders for the ecorisk tables (build offline from the embedded files).

* ``GuadeloupeSamplePoints`` -- the 18,413 + 92 sampled 30 m pixels of Guadeloupe
  (forestatrisk): every column of ``sample_points.csv.gz`` plus ``deforested``
  (``1 - fcc23``) and ``biomass`` (AGB.tif at the point, NaN where the raster has no data).
* ``AmazonDeforestationGrid`` -- the 25 km cells x reference years of the Brazilian Amazon:
  every column plus ``def_target_km2`` (deforestation in ``ref_year``: ``def``, or the next
  year's ``def_1_ly`` where ``def`` is empty; NaN for 2023) and ``deforested``
  (1/0, -1 where unknown).

Splits ``train`` / ``validation`` / ``test`` are the pipeline's default spatial split
(whole 10 km ``cell`` s for the points, whole 1 deg ``block`` s for the grid; seed 0).
Every record is kept (missing values stay NaN, the pipeline drops and reports them).
A malformed file stops the build with the file, line and field.
Nothing is downloaded: pass ``source_dir`` (default ``data/ecorisk``) and ``data_dir``.

Example:
    >>> import tempfile
    >>> from pipelines.ecorisk.tfds_builders import AmazonDeforestationGrid
    >>> b = AmazonDeforestationGrid(data_dir=tempfile.mkdtemp())  # doctest: +SKIP
    >>> b.download_and_prepare()                                  # doctest: +SKIP
    >>> ds = b.as_dataset(split="train")                          # doctest: +SKIP
"""

from __future__ import annotations


import numpy as np
import tensorflow_datasets as tfds

from sciarch.io.tfds import LocalSourceBuilder

from pipelines.ecorisk import data as D

GLP_CITATION = """G. Vieilledent (2021) forestatrisk: a Python package for modelling and forecasting deforestation
in the tropics. J. Open Source Softw. 6(59):2975."""
AMAZON_CITATION = """G. Mataveli et al. (2022) Science-based planning can support law enforcement actions to curb
deforestation in the Brazilian Amazon. Conservation Letters e12908. doi:10.1111/conl.12908"""


def _default_split_cfg():
    from pipelines.ecorisk.pipeline import EcoRiskData

    return EcoRiskData()


class _EcoTable(LocalSourceBuilder):
    """Shared plumbing: offline source folder, code path, split generation."""

    VERSION = tfds.core.Version("1.0.0")

    SOURCE_DIR = D.DATA_DIR
    SOURCE_NAME = "ecorisk"

    def _split_generators(self, dl_manager):
        del dl_manager  # offline
        df, split = self._load()
        return {name: self._generate_examples(df, split == D.SPLIT_ID[name]) for name in D.SPLITS}


class GuadeloupeSamplePoints(_EcoTable):
    """Sampled 30 m pixels of Guadeloupe with the forestatrisk covariates and 2010-2020 deforestation."""

    RELEASE_NOTES = {"1.0.0": "forestatrisk test sample (commit fe112247), Marie-Galante held out."}
    FLOAT_COLUMNS = ["altitude", "dist_defor", "dist_edge", "dist_river", "dist_road", "dist_town", "pa", "slope",
                     "X", "Y"]

    def _info(self):
        feats = {c: tfds.features.Scalar(dtype=np.float32) for c in self.FLOAT_COLUMNS}
        feats.update({"cell": tfds.features.Scalar(dtype=np.int32),
                      "deforested": tfds.features.Scalar(dtype=np.int32),
                      "biomass": tfds.features.Scalar(dtype=np.float32)})
        return tfds.core.DatasetInfo(builder=self, description=__doc__.split("\n\n")[1],
                                     features=tfds.features.FeaturesDict(feats), citation=GLP_CITATION,
                                     homepage="https://github.com/ghislainv/forestatrisk")

    def _load(self):
        path = self.source_dir / "guadeloupe" / "sample_points.csv.gz"
        df = D.read_csv(path, D.GLP_POINT_COLUMNS)
        bad = df["fcc23"].notna() & ~df["fcc23"].isin([0, 1])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise D.EcoDataError(f"{path}: line {i + 2}, field 'fcc23': expected 0 or 1, got {df['fcc23'].iloc[i]!r}")
        agb, ok = D.sample_raster_at(self.source_dir / "guadeloupe" / "AGB.tif", df["X"].to_numpy(), df["Y"].to_numpy())
        df = df.assign(biomass=np.where(ok, agb, np.nan))
        group = df["cell"].fillna(-1).astype(int).astype(str).to_numpy()
        split = D.spatial_split(group, df["X"].to_numpy(), df["Y"].to_numpy(), _default_split_cfg())
        return df, split

    def _generate_examples(self, df, mask):
        idx = np.flatnonzero(mask)
        for i, r in zip(idx, df.iloc[idx].to_dict("records")):
            ex = {c: np.float32(r[c]) for c in self.FLOAT_COLUMNS}
            ex.update({"cell": int(r["cell"]) if np.isfinite(r["cell"]) else -1,
                       "deforested": int(1 - r["fcc23"]) if np.isfinite(r["fcc23"]) else -1,
                       "biomass": np.float32(r["biomass"])})
            yield f"line{i + 2}", ex


class AmazonDeforestationGrid(_EcoTable):
    """25 km cells x years of the Brazilian Amazon with protected area, distances and past deforestation."""

    RELEASE_NOTES = {"1.0.0": "prioritizedeforestationhotspots (commit d63171e0), 15% of 1 deg blocks held out."}
    FLOAT_COLUMNS = ["lon", "lat", "area_PA", "dist_hidro", "dist_road", "dist_road_hidro", "def", "def_1_ly",
                     "def_2_ly", "def_4_ly", "dist_1_percent_ly", "dist_2_percent_ly", "active_fires_ly"]

    def _info(self):
        feats = {c: tfds.features.Scalar(dtype=np.float32) for c in self.FLOAT_COLUMNS}
        feats.update({"id": tfds.features.Scalar(dtype=np.int32), "ref_year": tfds.features.Scalar(dtype=np.int32),
                      "block": tfds.features.Text(),
                      "def_target_km2": tfds.features.Scalar(dtype=np.float32),
                      "deforested": tfds.features.Scalar(dtype=np.int32)})
        return tfds.core.DatasetInfo(builder=self, description=__doc__.split("\n\n")[1],
                                     features=tfds.features.FeaturesDict(feats), citation=AMAZON_CITATION,
                                     homepage="https://github.com/albhasan/prioritizedeforestationhotspots")

    def _load(self):
        path = self.source_dir / "amazon" / "deforestation_grid_25km2.csv.gz"
        df = D.read_csv(path, D.AMAZON_COLUMNS)
        df = df.assign(def_target_km2=D.amazon_targets(df))
        split = D.spatial_split(df["block"].astype(str).to_numpy(), df["lon"].to_numpy(), df["lat"].to_numpy(),
                                _default_split_cfg())
        return df, split

    def _generate_examples(self, df, mask):
        idx = np.flatnonzero(mask)
        for i, r in zip(idx, df.iloc[idx].to_dict("records")):
            t = r["def_target_km2"]
            ex = {c: np.float32(r[c]) for c in self.FLOAT_COLUMNS}
            ex.update({"id": int(r["id"]), "ref_year": int(r["ref_year"]), "block": str(r["block"]),
                       "def_target_km2": np.float32(t), "deforested": int(t > 0) if np.isfinite(t) else -1})
            yield f"line{i + 2}", ex
