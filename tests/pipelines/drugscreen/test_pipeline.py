"""End to end: `sciarch run drugscreen` learns on a small real Davis slice; evaluate on a
pairs file; bad input stops the run; the alascan and ddg building blocks work on the run."""

import gzip
import json

import keras
import numpy as np
import pytest

from pipelines.drugscreen.pipeline import DrugScreenConfig, DrugScreenPipeline
from sciarch.config import ConfigError, load_config
from sciarch.pipeline import PROJECT_ROOT, get_pipeline_class

SMALL = {
    "pipeline": "drugscreen",
    "seed": 0,
    "data": {"dataset": "davis", "max_train_pairs": 2000, "max_eval_pairs": 800, "protein_chunk": 8},
    "model": {"gnn_depth": 2, "gnn_units": 32, "ligand_embedding": 32, "protein_embedding_dim": 8,
              "protein_filters": [16], "protein_kernel": 8, "protein_stem_stride": 4,
              "protein_embedding": 32, "head_units": [64], "dropout": 0.0},
    "train": {"epochs": 4, "batch_size": 32, "learning_rate": 0.001, "tensorboard": False,
              "backup_and_restore": False, "verbose": 0},
}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from sciarch.runner import run_pipeline

    cfg = DrugScreenConfig.model_validate(SMALL)
    return run_pipeline(cfg, out=tmp_path_factory.mktemp("run") / "davis_small")


def test_registered_and_configs_validate():
    assert get_pipeline_class("drugscreen") is DrugScreenPipeline
    for path in (PROJECT_ROOT / "configs" / "drugscreen").glob("*.yaml"):
        cfg = load_config(path, pipeline="drugscreen")
        assert cfg.data.dataset in ("davis", "kiba")
    with pytest.raises(ConfigError, match="data.split"):
        load_config(PROJECT_ROOT / "configs/drugscreen/davis_quick.yaml", ["data.split=random"], pipeline="drugscreen")


def test_learns_on_small_davis_slice(trained_run):
    metrics = json.loads(trained_run.metrics_path.read_text())
    ev = metrics["evaluation"]
    assert ev["n"] == 800
    # a constant predictor scores 0.5; with 800 pairs chance deviations are ~0.02
    assert ev["ci"] > 0.6, ev
    assert (trained_run.dir / "model.keras").is_file()
    assert (trained_run.dir / "predicted_vs_measured.png").is_file()
    assert "predicted vs measured" in (trained_run.dir / "report.md").read_text()


def test_evaluate_on_pairs_file_plain_and_gz(trained_run, tmp_path, davis_rows):
    from sciarch.runner import load_run_model

    cfg = DrugScreenConfig.model_validate(SMALL)
    pipe = DrugScreenPipeline(cfg)
    model = load_run_model(trained_run.dir)
    rows = davis_rows[:1] + [r for r in davis_rows[1:] if r.endswith(",0")][:300]
    plain = tmp_path / "pairs.csv"
    plain.write_text("\n".join(rows) + "\n")
    gz = tmp_path / "pairs.csv.gz"
    with gzip.open(gz, "wt") as fh:
        fh.write("\n".join(rows) + "\n")
    a = pipe.evaluate(model, data_path=str(plain))
    b = pipe.evaluate(model, data_path=str(gz))
    assert a["n"] == 300 and a["ci"] == pytest.approx(b["ci"]) and 0.0 <= a["ci"] <= 1.0


def test_alanine_scan_on_trained_model(trained_run, tmp_path):
    from pipelines.drugscreen.alascan import alanine_scan, parse_residue_range, plot_profile, write_tsv
    from sciarch.runner import load_run_model

    model = load_run_model(trained_run.dir)
    seq = "MKVLAAGIWHHEPSTRQ"
    res = alanine_scan(model, "CC(=O)Nc1ccc(O)cc1", seq, residues=parse_residue_range("2-12"), max_length=1000)
    assert res.positions.tolist() == [2, 3, 4, 7, 8, 9, 10, 11, 12]  # alanines 5 and 6 skipped
    # the drop equals a direct prediction on the mutated sequence
    from sciarch.io.molecules import collate_graphs, featurize_smiles
    from sciarch.io.sequences import tokenize_protein

    x = collate_graphs([featurize_smiles("CC(=O)Nc1ccc(O)cc1")])
    x["protein_tokens"] = tokenize_protein(seq[:6] + "A" + seq[7:], 1000)[None]
    direct = float(np.asarray(model(x, training=False))[0, 0])
    i = res.positions.tolist().index(7)
    assert res.predictions[i] == pytest.approx(direct, abs=1e-4)
    tsv = write_tsv(res, tmp_path / "scan.tsv")
    lines = tsv.read_text().splitlines()
    assert lines[0].split("\t")[-1] == "predicted_drop" and len(lines) == 10
    assert plot_profile(res, tmp_path / "scan.png").is_file()
    with pytest.raises(ValueError, match="1-based"):
        parse_residue_range("x-3")


def test_alascan_cli(trained_run, tmp_path):
    from typer.testing import CliRunner

    from pipelines.drugscreen.cli import app

    fasta = tmp_path / "t.fasta"
    fasta.write_text(">kin\nMKVLAAGIWHHEPSTRQ\n")
    out = CliRunner().invoke(app, ["alascan", "--model", str(trained_run.dir), "--smiles", "c1ccccc1O",
                                   "--target", str(fasta), "--residues", "1-8", "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "alascan_kin.tsv").is_file() and (tmp_path / "alascan_kin.png").is_file()
    bad = CliRunner().invoke(app, ["alascan", "--model", str(trained_run.dir), "--smiles", "C1CC",
                                   "--target", str(fasta), "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "invalid SMILES" in str(bad.exception)


def test_bad_training_input_stops_run_with_line(davis_copy, tmp_path):
    from pipelines.drugscreen.data import DataError

    lig = davis_copy / "ligands_isomeric.smi"
    lines = lig.read_text().splitlines()
    lines[2] = "not_a_smiles\t" + lines[2].split("\t")[1]
    lig.write_text("\n".join(lines) + "\n")
    cfg = DrugScreenConfig.model_validate({**SMALL, "data": {**SMALL["data"], "dataset": str(davis_copy)}})
    with pytest.raises(DataError, match=r"ligands_isomeric.smi:3: ligand .*invalid SMILES"):
        DrugScreenPipeline(cfg).build_inputs("train")
    skip = DrugScreenConfig.model_validate(
        {**SMALL, "data": {**SMALL["data"], "dataset": str(davis_copy), "on_bad_input": "skip"}}
    )
    pipe = DrugScreenPipeline(skip, tmp_path)
    pipe.build_inputs("train")
    assert "ligands_isomeric.smi:3" in (tmp_path / "bad_input.txt").read_text()
    assert 2 not in set(pipe.data.pairs.drug.tolist())


def test_siamese_ddg_experiment_runs(trained_run):
    from pipelines.drugscreen.siamese import run_ddg_experiment
    from sciarch.runner import load_run_model

    keras.utils.set_random_seed(0)
    cfg = DrugScreenConfig.model_validate(SMALL)
    pipe = DrugScreenPipeline(cfg)
    model = load_run_model(trained_run.dir)
    before = [w.copy() for w in model.get_layer("protein_encoder").get_weights()]
    r = run_ddg_experiment(pipe.data, model, cfg.model, pipe.data.split_index("train"),
                           pipe.data.split_index("validation"), epochs=1, batch_size=128)
    assert r["pairs_validation"] > 100 and r["mutants"] > 40
    for key in ("siamese", "subtraction"):
        assert np.isfinite(r[key]["mse"])
    # the absolute model is left untouched
    for a, b in zip(before, model.get_layer("protein_encoder").get_weights()):
        np.testing.assert_array_equal(a, b)


def test_build_inputs_per_replica_batch_and_sharding():
    import tensorflow as tf

    cfg = DrugScreenConfig.model_validate({**SMALL, "train": {**SMALL["train"], "batch_size": 64}})
    pipe = DrugScreenPipeline(cfg)
    seen = []
    for k in range(2):
        ctx = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=k, num_replicas_in_sync=2)
        ds = pipe.build_inputs("validation", ctx)
        batches = [(np.asarray(x["protein_tokens"]), np.asarray(y)) for x, y in ds]
        assert all(t.shape[0] <= 32 for t, _ in batches) and batches[0][0].shape[0] == 32  # per-replica size
        seen.append(batches)
    assert len(seen[0]) == len(seen[1]) == (800 // 32) // 2  # equal number of batches per pipeline
    total = sum(b[1].shape[0] for s in seen for b in s)
    # 25 batches of 32: the odd one out is dropped so both replicas run 12 steps
    assert total == 12 * 2 * 32
    ys = [np.concatenate([b[1].ravel() for b in s]) for s in seen]
    assert not np.array_equal(ys[0], ys[1])  # different shards


def _second_member(trained_run, tmp_path):
    """A copy of the trained run whose output layer gets other weights (a member that differs)."""
    import shutil

    from sciarch.runner import load_run_model

    other = tmp_path / "member_b"
    shutil.copytree(trained_run.dir, other)
    model = load_run_model(trained_run.dir)
    out = model.get_layer("affinity_head").get_layer("affinity")
    out.set_weights([w + np.random.default_rng(1).normal(0, 0.05, w.shape).astype("float32") for w in out.get_weights()])
    model.save(other / "model.keras")
    return other, model


def test_export_ensemble_averages_runs_and_every_verb_uses_all_members(trained_run, tmp_path):
    """``python -m pipelines.drugscreen.reference RUN_A RUN_B DEST`` writes one model averaging the runs;
    its card lists both members; the alanine scan and the evaluation use the member mean."""
    from pipelines.drugscreen.alascan import alanine_scan
    from pipelines.drugscreen.metrics import regression_metrics
    from pipelines.drugscreen.reference import card_markdown, main
    from sciarch.runner import load_run_model
    from sciarch.runs import open_run

    other, b = _second_member(trained_run, tmp_path)
    a = load_run_model(trained_run.dir)
    dest = tmp_path / "models" / "ens"
    main([str(trained_run.dir), str(other), str(dest), "--command", "train A", "--command", "train B"])
    ens = keras.models.load_model(dest / "model.keras", safe_mode=True)
    pipe = open_run(dest, pipeline="drugscreen").pipeline()
    va = pipe.split_index("validation")
    y = pipe.data.pairs.y[va]
    mean = (pipe.predict_pairs(a, pipe.data.pairs, va) + pipe.predict_pairs(b, pipe.data.pairs, va)) / 2
    card = json.loads((dest / "card.json").read_text())
    assert card["validation"]["ci"] == pytest.approx(regression_metrics(y, mean)["ci"], abs=1e-6)
    assert card["check_subset"]["n"] == len(va) == 800  # fewer validation pairs than the check size: all of them
    assert [m["command"] for m in card["members"]] == ["train A", "train B"]
    text = (dest / "README.md").read_text()
    assert text == card_markdown("ens", card) and "train A\ntrain B\n" in text and "| 1 | GIN" in text

    seq, smi = "MKVLAAGIWHHEPSTRQ", "CC(=O)Nc1ccc(O)cc1"
    scans = [alanine_scan(m, smi, seq, max_length=64) for m in (a, b)]
    both = alanine_scan(ens, smi, seq, max_length=64)
    np.testing.assert_allclose(both.predictions, (scans[0].predictions + scans[1].predictions) / 2, atol=1e-4)
    assert both.wild_type_prediction == pytest.approx(np.mean([s.wild_type_prediction for s in scans]), abs=1e-4)
    assert not np.allclose(scans[0].predictions, scans[1].predictions, atol=1e-3)  # the members really differ


def test_export_ensemble_refuses_members_of_other_data(trained_run, tmp_path):
    import yaml

    from pipelines.drugscreen.reference import export_ensemble

    other, _ = _second_member(trained_run, tmp_path)
    cfg = yaml.safe_load((other / "config.yaml").read_text())
    cfg["data"]["max_protein_length"] = 500
    (other / "config.yaml").write_text(yaml.safe_dump(cfg))
    with pytest.raises(ValueError, match=r"member_b: data.max_protein_length is 500 but .* has 1000"):
        export_ensemble([trained_run.dir, other], tmp_path / "ens", ["a", "b"])
    with pytest.raises(ValueError, match="2 runs but 1 --command"):
        export_ensemble([trained_run.dir, trained_run.dir], tmp_path / "ens", ["a"])
