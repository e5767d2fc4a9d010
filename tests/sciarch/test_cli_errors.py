"""User errors at the CLI front door: one line on stderr, exit status 2, nothing left behind.

Config typos are reported before TensorFlow is imported; TensorFlow's C++ start-up logs are
silenced; strict types; unknown data sets / genome pieces; dotted loss paths that are not
losses; corrupt or unsafe ``model.keras`` files; ``--help`` texts with their placeholders.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
GENOMICS_QUICK = ROOT / "configs" / "genomics" / "quick.yaml"
DAVIS_QUICK = ROOT / "configs" / "drugscreen" / "davis_quick.yaml"

_PROBE = (
    "import sys\n"
    "from sciarch.cli import main\n"
    "try:\n"
    "    main(sys.argv[1:])\n"
    "finally:\n"
    "    print('TF-IMPORTED' if 'tensorflow' in sys.modules else 'TF-NOT-IMPORTED')\n"
)


def sciarch(*args, timeout=240):
    """Run ``sciarch ARGS`` as a user would (TF_CPP_MIN_LOG_LEVEL not set); stdout ends with
    whether TensorFlow was imported."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-c", _PROBE, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(res) -> str:
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: "), res.stderr
    assert res.returncode == 2, (res.returncode, res.stderr)
    return lines[0]


# ----------------------------------------------------------------------------- config errors
def test_typo_key_is_one_line_before_tensorflow(tmp_path):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(GENOMICS_QUICK.read_text().replace("train:\n", "train:\n  epocs: 2\n", 1))
    res = sciarch("run", "genomics", "-c", cfg, "--out", tmp_path / "run")
    line = one_error_line(res)
    assert line == f"error: {cfg}: unknown key 'train.epocs' (did you mean 'train.epochs'?)"
    assert res.stdout.strip().endswith("TF-NOT-IMPORTED")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name, path", [("genomics", GENOMICS_QUICK), ("drugscreen", DAVIS_QUICK)])
def test_load_config_does_not_import_tensorflow(name, path):
    code = ("import sys\nfrom sciarch.config import load_config\n"
            f"load_config({str(path)!r}, pipeline={name!r})\n"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("override, expect", [
    ("train.epochs=true", "key 'train.epochs': input should be a valid integer (got True)"),
    ("train.epochs='2'", "key 'train.epochs': input should be a valid integer (got '2')"),
    ("train.epochs=2.0", "key 'train.epochs': input should be a valid integer (got 2.0)"),
    ("train.learning_rate='1e-3'", "key 'train.learning_rate': input should be a valid number (got '1e-3')"),
    ("train.tensorboard=1", "key 'train.tensorboard': input should be a valid boolean (got 1)"),
    ("data.pieces=[nosuch_piece]", "data.pieces: genome piece(s) not found under"),
])
def test_strict_types_and_unknown_pieces(tmp_path, override, expect):
    res = sciarch("run", "genomics", "-c", GENOMICS_QUICK, "--set", override, "--out", tmp_path / "run")
    assert expect in one_error_line(res)
    assert not (tmp_path / "run").exists()


def test_int_still_valid_for_float_fields():
    from sciarch.config import load_config

    cfg = load_config(GENOMICS_QUICK, ["train.learning_rate=1", "train.epochs=1"], pipeline="genomics")
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)


def test_unknown_drugscreen_dataset_one_line_no_run_dir(tmp_path):
    res = sciarch("run", "drugscreen", "-c", DAVIS_QUICK, "--set", "data.dataset=nosuchset", "--out", tmp_path / "r")
    line = one_error_line(res)  # TensorFlow is imported for this pipeline: its logs are silenced
    assert "key 'data.dataset': no such data set under" in line and "(known: davis, kiba" in line
    assert not (tmp_path / "r").exists()


# ----------------------------------------------------------------------------- dotted losses
@pytest.mark.parametrize("spec", ["subprocess:Popen", "os:system", "builtins:eval", "os:path", "subprocess:run",
                                  "sciarch.config:ConfigError"])
def test_dotted_loss_refused_before_it_is_called(spec):
    from sciarch.losses import LossError, get_loss

    with pytest.raises(LossError, match=rf"loss '{re.escape(spec)}': refused: ") as info:
        get_loss(spec)
    assert "\n" not in str(info.value)


def test_dotted_loss_refused_from_the_command_line(tmp_path):
    marker = tmp_path / "ran"
    res = sciarch("run", "genomics", "-c", GENOMICS_QUICK, "--set", "loss.name=subprocess:Popen",
                  "--set", f"loss.params.args=[touch, {marker}]", "--set", "train.epochs=1",
                  "--set", "data.max_train_examples=64", "--out", tmp_path / "run")
    line = one_error_line(res)
    assert "loss 'subprocess:Popen': refused: 'subprocess.Popen' is a standard-library class" in line
    assert not marker.exists()


# ----------------------------------------------------------------------------- model loading
def _save_models(folder: Path) -> dict[str, Path]:
    import keras

    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(good)
    lam = folder / "lambda.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: x * 2)]).save(lam)
    raw = good.read_bytes()
    trunc = folder / "trunc.keras"
    trunc.write_bytes(raw[: len(raw) // 2])
    rnd = folder / "random.keras"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    unknown = folder / "unknown.keras"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(unknown, "w") as zout:
        cfg = json.loads(zin.read("config.json"))
        cfg["config"]["layers"][1].update(class_name="EvilLayer", module="os")
        for n in zin.namelist():
            zout.writestr(n, json.dumps(cfg) if n == "config.json" else zin.read(n))
    return {"trunc": trunc, "random": rnd, "lambda": lam, "unknown": unknown}


EXPECTED = {
    "trunc": "not a valid .keras archive (truncated or corrupt zip)",
    "random": "not a valid .keras archive (truncated or corrupt zip)",
    "lambda": "refused by safe_mode: the model contains a Python lambda",
    "unknown": "the model uses a class that is not a registered sciarch/Keras class (Could not locate class "
               "'EvilLayer'.",
}


@pytest.fixture(scope="module")
def bad_runs(tmp_path_factory):
    """Genomics run directories (quick config) whose model.keras is corrupt or unsafe."""
    base = tmp_path_factory.mktemp("badmodels")
    models = _save_models(base / "models")
    runs = {}
    for kind, src in models.items():
        run = base / kind
        run.mkdir()
        shutil.copy(GENOMICS_QUICK, run / "config.yaml")
        shutil.copy(src, run / "model.keras")
        runs[kind] = run
    return runs


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_load_run_model_one_line(bad_runs, kind):
    from sciarch.config import ConfigError
    from sciarch.runner import load_run_model

    with pytest.raises(ConfigError) as info:
        load_run_model(bad_runs[kind])
    msg = str(info.value)
    assert msg.startswith(f"{bad_runs[kind] / 'model.keras'}: ") and EXPECTED[kind] in msg, msg
    assert "\n" not in msg


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_evaluate_bad_model_one_line(bad_runs, kind):
    res = sciarch("evaluate", bad_runs[kind])
    line = one_error_line(res)
    assert line.startswith(f"error: {bad_runs[kind] / 'model.keras'}: ") and EXPECTED[kind] in line, line


@pytest.mark.parametrize("kind", ["trunc", "lambda"])
def test_genomics_predict_bad_model_one_line(bad_runs, kind, tmp_path):
    fasta = tmp_path / "x.fa"
    fasta.write_text(">s\n" + "ACGT" * 50 + "\n")
    res = sciarch("genomics", "predict", bad_runs[kind], "--fasta", fasta, "--out", tmp_path / "calls")
    assert EXPECTED[kind] in one_error_line(res)


# ----------------------------------------------------------------------------- evaluate --data FOLDER
def test_drugscreen_evaluate_on_a_folder(tmp_path):
    """A folder in the embedded layout (affinities.csv.gz + ligands + proteins.fasta) is scored,
    and the metrics JSON names it instead of a split."""
    import keras

    from sciarch.config import load_config, dump_config
    from pipelines.drugscreen.pipeline import DrugScreenPipeline

    keras.utils.set_random_seed(0)
    cfg = load_config(DAVIS_QUICK, ["data.max_train_pairs=64", "data.max_eval_pairs=64"], pipeline="drugscreen")
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(dump_config(cfg))
    pipe = DrugScreenPipeline(cfg, run)
    pipe.build_model().save(run / "model.keras")  # untrained: the test is about the data path

    src = ROOT / "data" / "drugscreen" / "davis"
    folder = tmp_path / "my_kinases"
    folder.mkdir()
    for name in ("ligands.smi", "ligands_isomeric.smi", "proteins.fasta"):
        shutil.copy(src / name, folder / name)
    with gzip.open(src / "affinities.csv.gz", "rt") as fh:
        rows = fh.read().splitlines()[:301]
    with gzip.open(folder / "affinities.csv.gz", "wt") as fh:
        fh.write("\n".join(rows) + "\n")

    out = tmp_path / "eval.json"
    res = sciarch("evaluate", run, "--data", folder, "--out", out)
    assert res.returncode == 0, res.stderr
    doc = json.loads(out.read_text())
    assert doc["data"] == str(folder) and doc["split"] is None
    assert doc["metrics"]["data"] == str(folder)
    assert 0.0 <= doc["metrics"]["ci"] <= 1.0 and np.isfinite(doc["metrics"]["mse"])


# ----------------------------------------------------------------------------- --help texts
VERBS = [["run"], ["evaluate"], ["list"], ["demo"], ["screen"], ["genomics", "predict"], ["genomics", "build-tfds"],
         ["drugscreen", "alascan"], ["drugscreen", "ddg"], ["bubble", "detect"], ["bubble", "simulate"]]


@pytest.fixture(scope="module")
def helps():
    from typer.testing import CliRunner

    import sciarch.cli as cli

    cli._mount_extensions([])
    runner = CliRunner()
    out = {}
    for verb in VERBS:
        res = runner.invoke(cli.app, [*verb, "--help"], env={"COLUMNS": "250"}, prog_name="sciarch")
        assert res.exit_code == 0, (verb, res.output)
        out[" ".join(verb)] = res.output
    return out


def test_help_shows_the_defaults(helps):
    flat = {k: " ".join(v.replace("│", " ").split()) for k, v in helps.items()}
    assert "default runs/PIPELINE/TIMESTAMP" in flat["run"]
    assert "default RUN_DIR/eval_NAME.json" in flat["evaluate"]
    assert "default RUN/ddg.json" in flat["drugscreen ddg"]
    assert "default: RUN/detect" in flat["bubble detect"]
    assert "default screen_LIBRARY" in flat["screen"]


@pytest.mark.parametrize("verb", [" ".join(v) for v in VERBS])
def test_help_has_no_eaten_placeholders(helps, verb):
    text = helps[verb]
    for artefact in ("//", "/.", "_.", "(default )", "(default: )", "<>"):
        hits = [ln for ln in text.splitlines() if artefact in ln and "http" not in ln and "--" + artefact not in ln]
        assert not hits, (verb, artefact, hits)


def test_finished_out_is_refused_before_tensorflow(tmp_path):
    from sciarch.config import dump_config, load_config
    from sciarch.runs import config_hash

    text = dump_config(load_config(GENOMICS_QUICK, pipeline="genomics"))
    run = tmp_path / "done"
    run.mkdir()
    (run / "config.yaml").write_text(text)
    (run / "metrics.json").write_text("{}\n")
    (run / "run.json").write_text(json.dumps({"status": "finished", "config_hash": config_hash(text)}))
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    res = sciarch("run", "genomics", "-c", GENOMICS_QUICK, "--out", run)
    line = one_error_line(res)
    assert line.startswith(f"error: {run}: finished run (metrics.json from ") and "--overwrite" in line
    assert res.stdout.strip().endswith("TF-NOT-IMPORTED")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before  # nothing touched
    res = sciarch("run", "genomics", "-c", GENOMICS_QUICK, "--set", "seed=3", "--out", run)
    assert "holds a run of a different configuration (seed: 0 -> 3)" in one_error_line(res)
    assert res.stdout.strip().endswith("TF-NOT-IMPORTED")
