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
