"""Drug-target affinity pipeline (Davis pKd / KIBA score), read top to bottom.

1. **Data** -- :class:`~pipelines.drugscreen.data.DTAData` reads the pair table, featurises
   every ligand once with RDKit and tokenises every protein once; bad input stops the run
   with file and line, or is skipped and listed when ``data.on_bad_input: skip``.
2. **Splits** -- ``data.split: fold`` validates on DeepDTA's training fold ``data.fold``
   (warm start: drugs and targets recur), ``cold_drug`` / ``cold_target`` hold out whole
   drugs / protein families (what a real screen faces).
3. **Inputs** -- ``tf.data`` batches padded per batch (no atom cap), per-replica batch size,
   one shard per input pipeline; training batches grouped by protein.
4. **Model** -- ligand GNN || protein 1D-CNN -> late fusion -> MLP (:mod:`.model`).
5. **Metrics** -- CI, MSE, Pearson r, r_m^2 (:mod:`.metrics`).
6. **Report** -- predicted vs measured scatter, residuals, per-target CI (:mod:`.report`).

Example:
    sciarch run drugscreen --config configs/drugscreen/davis_quick.yaml
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from sciarch.config import PipelineConfig, Section
from sciarch.io.sequences import DEFAULT_MAX_LENGTH
from sciarch.pipeline import Pipeline, register_pipeline

from pipelines.drugscreen.batching import batch_order, make_dataset
from pipelines.drugscreen.data import DATA_ROOT, TARGET_COLUMNS, DTAData, Pairs
from pipelines.drugscreen.metrics import per_target_ci, regression_metrics
from pipelines.drugscreen.config import DrugScreenModelConfig


class DrugScreenDataConfig(Section):
    """Data section of the drugscreen config."""

    dataset: str = Field("davis", description="davis | kiba (folder under data/drugscreen) or a folder path")
    smiles: Literal["isomeric", "canonical"] = "isomeric"
    graph_features: Literal["v1", "v2"] = Field(
        "v1", description="ligand graph feature version (sciarch.io.molecules): v1 (runs without this key) or "
        "v2 (fast featuriser: two RDKit calls per molecule)"
    )
    split: Literal["fold", "cold_drug", "cold_target"] = "fold"
    fold: int = Field(0, ge=0, le=4, description="validation fold (DeepDTA cv_fold, or cold group)")
    max_protein_length: int = Field(DEFAULT_MAX_LENGTH, ge=8)
    on_bad_input: Literal["error", "skip"] = "error"
    apply_mutations: bool = Field(True, description="Davis mutants get their mutated sequence (from the name)")
    protein_chunk: int | None = Field(32, ge=1, description="training pairs of one protein kept together")
    max_train_pairs: int | None = Field(None, ge=1, description="seeded subsample of the training pairs")
    max_eval_pairs: int | None = Field(None, ge=1, description="seeded subsample of the validation pairs")
    eval_batch_size: int = Field(512, ge=1)

    @field_validator("dataset")
    @classmethod
    def _dataset_exists(cls, v: str) -> str:
        """The data set must exist before a run starts: a name under data/drugscreen or a folder."""
        if Path(v).is_dir() or (Path(DATA_ROOT) / v).is_dir():
            return v
        known = sorted(p.name for p in Path(DATA_ROOT).iterdir() if p.is_dir()) if Path(DATA_ROOT).is_dir() else []
        raise ValueError(f"no such data set under {DATA_ROOT} (known: {', '.join(known)}) "
                         "and no such folder")


class DrugScreenConfig(PipelineConfig):
    data: DrugScreenDataConfig = Field(default_factory=DrugScreenDataConfig)
    model: DrugScreenModelConfig = Field(default_factory=DrugScreenModelConfig)


@register_pipeline
class DrugScreenPipeline(Pipeline):
    """Drug-target binding affinity regression: ligand GNN || protein CNN, late fusion."""

    name = "drugscreen"
    description = "drug-target affinity (Davis/KIBA): ligand GNN || protein 1D-CNN, late fusion; CI/MSE"
    config_cls = DrugScreenConfig
    default_loss = "mse"
    headline_metric = "ci"
    splits = ("train", "validation")

    def __init__(self, config: DrugScreenConfig, run_dir: Path | None = None):
        super().__init__(config, run_dir)
        self._data: DTAData | None = None
        self._last_eval: dict | None = None

    # ------------------------------------------------------------------ data
    @property
    def data(self) -> DTAData:
        if self._data is None:
            d = self.config.data
            self._data = DTAData.load(
                d.dataset,
                smiles=d.smiles,
                graph_features=d.graph_features,
                max_protein_length=d.max_protein_length,
                on_bad_input=d.on_bad_input,
                apply_mutations=d.apply_mutations,
            )
            if self._data.problems and self.run_dir is not None:
                (self.run_dir / "bad_input.txt").write_text("\n".join(self._data.problems) + "\n")
        return self._data

    def split_index(self, split: str, pairs: Pairs | None = None) -> np.ndarray:
        d = self.config.data
        idx = self.data.split_index(split, scheme=d.split, fold=d.fold, seed=self.config.seed, pairs=pairs)
        cap = d.max_train_pairs if split == "train" else d.max_eval_pairs
        if cap is not None and len(idx) > cap and pairs is None:
            rng = np.random.default_rng([self.config.seed, 17 if split == "train" else 23])
            idx = np.sort(rng.choice(idx, cap, replace=False))
        return idx

    def build_inputs(self, split, input_context=None):
        if split not in self.splits:
            raise ValueError(f"unknown split '{split}' (drugscreen knows {', '.join(self.splits)})")
        from sciarch.distribute import per_replica_batch_size

        batch = per_replica_batch_size(self.config.train.batch_size, input_context)
        train = split == "train"
        return make_dataset(
            self.data,
            self.data.pairs,
            self.split_index(split),
            batch,
            shuffle=train,
            protein_chunk=self.config.data.protein_chunk if train else None,
            seed=self.config.seed,
            input_context=input_context,
            epoch=self.epoch if train else None,
            fingerprint_bits=self.config.model.ligand_fingerprint,
        )

    # ------------------------------------------------------------------ model
    def build_model(self):
        train = self.split_index("train")
        y = self.data.pairs.y[train]
        from pipelines.drugscreen.model import build_affinity_model

        return build_affinity_model(
            self.config.model,
            output_bias=float(np.mean(y)) if y.size else 0.0,
            graph_features=self.config.data.graph_features,
            composition_tokens=(self.data.tokens[np.unique(self.data.pairs.protein[train])]
                                if self.config.model.protein_composition else None),
        )

    def build_metrics(self):
        import keras

        return [keras.metrics.MeanSquaredError(name="mse")]

    # ------------------------------------------------------------------ evaluation
    def load_folder(self, folder: str | Path) -> DTAData:
        """A data set folder in the embedded layout (``affinities.csv[.gz]``, ``ligands*.smi``,
        ``proteins.fasta``), read with this run's settings; the label column is the run's
        (``pKd`` for Davis) unless the folder is named after a known data set."""
        d = self.config.data
        folder = Path(folder)
        target = TARGET_COLUMNS.get(folder.name) or TARGET_COLUMNS.get(Path(d.dataset).name)
        return DTAData.load(
            str(folder),
            smiles=d.smiles,
            graph_features=d.graph_features,
            max_protein_length=d.max_protein_length,
            on_bad_input=d.on_bad_input,
            apply_mutations=d.apply_mutations,
            target_column=target or self.data.target_column,
        )

    def predict_pairs(self, model, pairs: Pairs, index: np.ndarray, data: DTAData | None = None) -> np.ndarray:
        """Predictions for ``pairs[index]`` in that order (batches sorted by protein); ``data``
        holds the ligands and proteins the pairs index (default: the run's data set)."""
        from pipelines.drugscreen.model import fingerprint_bits_of

        data = self.data if data is None else data
        ds = make_dataset(data, pairs, index, self.config.data.eval_batch_size, shuffle=False,
                          fingerprint_bits=fingerprint_bits_of(model))
        preds = [np.asarray(model(x, training=False)).reshape(-1) for x, _ in ds]
        order = np.concatenate(
            batch_order(pairs.drug[index], pairs.protein[index], self.config.data.eval_batch_size,
                        shuffle=False, protein_chunk=None, rng=np.random.default_rng(0))
        ) if len(index) else np.zeros(0, np.int64)
        out = np.empty(len(index), np.float32)
        out[order] = np.concatenate(preds) if preds else np.zeros(0, np.float32)
        return out

    def evaluate(self, model, split: str = "validation", data_path: str | None = None) -> dict:
        data = self.data if data_path is None or not Path(data_path).is_dir() else self.load_folder(data_path)
        if data_path is not None:
            # a folder in the embedded layout brings its own ligands and proteins; a CSV uses the run's
            pairs = data.pairs if Path(data_path).is_dir() else data.load_pairs_file(data_path)
            index = np.arange(len(pairs))
            split = str(data_path)
        else:
            if split not in self.splits:
                raise ValueError(f"unknown split '{split}' (drugscreen knows {', '.join(self.splits)})")
            pairs = data.pairs
            index = self.split_index(split)
        if len(index) == 0:
            raise ValueError(f"{split}: no pairs to evaluate")
        y = pairs.y[index]
        p = self.predict_pairs(model, pairs, index, data=data)
        metrics = regression_metrics(y, p)
        # per-target CI (targets with at least 2 distinct labels) -- how well drugs are ranked per kinase
        prot = pairs.protein[index]
        per_target = per_target_ci(y, p, prot)
        metrics["per_target_ci_median"] = float(np.median(per_target)) if per_target else float("nan")
        metrics["dataset"] = data.name
        if data_path is not None:
            metrics["data"] = str(data_path)
        else:
            metrics["split_scheme"] = self.config.data.split
            metrics["fold"] = self.config.data.fold
        metrics["skipped_problems"] = len(data.problems)
        self._last_eval = {"y": y, "p": p, "protein": prot, "split": split}
        return metrics

    # ------------------------------------------------------------------ report
    def report(self, run, model, metrics) -> list[Path]:
        """Figures of the last evaluation (:mod:`.report`); evaluates first if there was none."""
        from pipelines.drugscreen.report import write_report_figures

        if self._last_eval is None:
            self.evaluate(model, metrics.get("split", "validation"))
        return write_report_figures(run.dir, self.data, self._last_eval, metrics.get("evaluation", metrics),
                                    dpi=self.config.report.dpi)

    # ------------------------------------------------------------------ extra verbs
    cli_module = "pipelines.drugscreen.cli"
    model_modules = ("pipelines.drugscreen.model",)  # the model module is imported lazily elsewhere

    # ------------------------------------------------------------------ screening
    @classmethod
    def screen_scorer(cls, run_dir, targets, **opts):
        """``sciarch screen --model RUN``: the affinity model of ``RUN`` scoring ligands against
        ``targets`` (:class:`~pipelines.drugscreen.screening.AffinityModelScorer`)."""
        from pipelines.drugscreen.screening import AffinityModelScorer

        return AffinityModelScorer.from_run_dir(run_dir, targets, **opts)

