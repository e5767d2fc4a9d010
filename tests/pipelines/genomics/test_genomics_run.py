"""End to end through the generic runner: train, evaluate, export, report (tiny, real slice)."""

import json

import pytest
import yaml

from genomics_helpers import TINY_MODEL


@pytest.mark.parametrize("mode", ["window", "nucleotide"])
def test_sciarch_run_writes_model_metrics_and_figures(tmp_path, mini_data, mode):
    from sciarch.config import load_config
    from sciarch.runner import load_run_model, run_pipeline

    model = dict(TINY_MODEL)
    data = {"root": str(mini_data), "mode": mode, "context": 80, "decoys_per_site": 3, "validation_fraction": 0.5,
            "max_train_examples": 256}
    if mode == "nucleotide":
        model.pop("pool"), model.pop("centre_radius"), model.pop("linear_radius")
        data.update(block=400, max_train_examples=8, sources=["genome"], eval_max_genes=1)
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "pipeline": "genomics", "data": data, "model": model,
        "train": {"epochs": 1, "batch_size": 8 if mode == "nucleotide" else 64, "tensorboard": False, "verbose": 0},
    }))
    cfg = load_config(cfg_path, pipeline="genomics")
    run = run_pipeline(cfg, out=tmp_path / "run")
    metrics = json.loads((run.dir / "metrics.json").read_text())
    ev = metrics["evaluation"]
    assert metrics["headline_metric"] == "genes/topk_mean" and metrics["headline"] == ev["genes/topk_mean"]
    assert ev["genes/genes"] >= 1 and 0 <= ev["genes/pwm/donor_pr_auc"] <= 1
    for name in ("pr_curves_genes.png", "pr_curves_windows.png", "attention_example.png", "ism_donor.png",
                 "data_summary.json", "report.md"):
        assert (run.dir / name).is_file(), name
    report = (run.dir / "report.md").read_text()
    assert "ism_donor.png" in report and "windows/pwm/donor_accuracy" in report
    model = load_run_model(run.dir)  # the exported model reloads with the sciarch layers
    assert model.output_shape == ((None, 3) if mode == "window" else (None, None, 3))


def test_ensemble_run_saves_one_model_that_reloads_in_safe_mode(tmp_path, mini_data):
    """train.ensemble: 2 on a tiny nucleotide run: one model.keras, loaded with safe_mode=True,
    whose per-position probabilities are the mean of the two members'."""
    import keras
    import numpy as np

    from pipelines.genomics import sequence as S
    from sciarch.config import validate
    from sciarch.runner import run_pipeline
    from pipelines.genomics.pipeline import GenomicsPipeline

    model = {k: v for k, v in TINY_MODEL.items() if k not in ("pool", "centre_radius", "linear_radius")}
    cfg = validate({"pipeline": "genomics", "seed": 0,
                    "data": {"root": str(mini_data), "mode": "nucleotide", "context": 80, "block": 200,
                             "sources": ["genome"], "validation_fraction": 0.5, "max_train_examples": 8,
                             "eval_max_genes": 1},
                    "model": model, "train": {"epochs": 1, "batch_size": 8, "ensemble": 2, "tensorboard": False,
                                              "verbose": 0}}, GenomicsPipeline.config_cls)
    run = run_pipeline(cfg, out=tmp_path / "run")
    ens = keras.models.load_model(run.dir / "model.keras", safe_mode=True)
    members = [keras.models.load_model(run.dir / "members" / str(k) / "model.keras", safe_mode=True) for k in (0, 1)]
    x = S.encode(["ACGTTAGGTAAGTCCAG" * 20], 340).astype(np.float32)
    p = [np.asarray(m(x, training=False)) for m in members]
    assert not np.allclose(p[0], p[1])  # different seeds
    np.testing.assert_allclose(np.asarray(ens(x, training=False)), (p[0] + p[1]) / 2, atol=1e-5)
    metrics = json.loads((run.dir / "metrics.json").read_text())
    assert metrics["ensemble"]["members"] == 2 and len(metrics["ensemble"]["member_headline"]) == 2
    # the report reads the attention of an ensemble's first member
    assert (run.dir / "attention_example.png").is_file()
    assert not (run.dir / "attention_example.error.txt").exists()
