"""End to end through the generic runner: train, evaluate, export, report (tiny, real slice)."""

import json

import yaml

from genomics_helpers import TINY_MODEL


def test_sciarch_run_writes_model_metrics_and_figures(tmp_path, mini_data):
    from sciarch.config import load_config
    from sciarch.runner import load_run_model, run_pipeline

    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(yaml.safe_dump({
        "pipeline": "genomics",
        "data": {"root": str(mini_data), "context": 80, "decoys_per_site": 3, "validation_fraction": 0.5,
                 "max_train_examples": 256},
        "model": TINY_MODEL,
        "train": {"epochs": 1, "batch_size": 64, "tensorboard": False, "verbose": 0},
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
    assert model.output_shape == (None, 3)
