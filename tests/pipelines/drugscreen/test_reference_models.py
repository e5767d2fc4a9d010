"""The shipped reference models (models/davis-gin, davis-gin-v2, davis-gin64-v2, davis-gin-ens, davis-comp-ens, kiba-gin,
kiba-gin-v2, kiba-gin-comp, kiba-gin-comp-cont, kiba-gin-comp-fp, kiba-comp-ens): they load with safe_mode,
look like finished runs to every verb, stay small, and reproduce the check-subset CI / MSE
recorded in their model card."""

import json

import keras
import numpy as np
import pytest

from pipelines.drugscreen.reference import RUN_FILES, card_markdown, check_subset_metrics
from sciarch.pipeline import PROJECT_ROOT
from sciarch.runs import open_run

MODELS = PROJECT_ROOT / "models"
NAMES = ("davis-gin", "davis-gin-v2", "davis-gin64-v2", "davis-gin-ens", "davis-comp-ens", "kiba-gin", "kiba-gin-v2",
         "kiba-gin-comp", "kiba-gin-comp-cont", "kiba-gin-comp-fp", "kiba-comp-ens")


@pytest.mark.parametrize("name", NAMES)
def test_reference_model_loads_and_reproduces_card(name):
    d = MODELS / name
    for f in (*RUN_FILES, "card.json", "README.md"):  # run.json only for a finished run
        assert (d / f).is_file(), f"{d / f} missing"
    assert (d / "model.keras").stat().st_size < 10 * 2**20
    card = json.loads((d / "card.json").read_text())
    # the card's own commands (screen, alascan, evaluate) name the folder it ships in
    assert card["name"] == name
    assert f"--model models/{name} " in (d / "README.md").read_text()
    opened = open_run(d, pipeline="drugscreen")
    assert opened.config.data.dataset == card["dataset"] and opened.config.data.fold == card["fold"]
    import pipelines.drugscreen.model  # noqa: F401  (registers the pipeline's Keras classes)

    model = keras.models.load_model(d / "model.keras", safe_mode=True)
    c = card["check_subset"]
    got = check_subset_metrics(d, c["size"], c["seed"], model=model)
    assert got["n"] == c["n"]
    assert got["ci"] == pytest.approx(c["ci"], abs=0.005), got
    assert got["mse"] == pytest.approx(c["mse"], rel=0.02), got
    # the check subset is a sample of the validation fold: its CI is close to the card's fold CI
    assert abs(got["ci"] - card["validation"]["ci"]) < 0.03
    assert card["command"] in (d / "README.md").read_text()


def test_card_markdown_names_data_split_metrics_and_command():
    card = json.loads((MODELS / "davis-gin" / "card.json").read_text())
    text = card_markdown("davis-gin", card)
    assert "validation fold 0" in text and card["command"] in text
    assert f"{card['validation']['ci']:.4f}" in text


def _screen_zinc(name, tmp_path, n=60):
    """``sciarch screen --model models/NAME`` on the first ``n`` ZINC lines against ABL1: the rows of hits.csv."""
    import gzip

    from typer.testing import CliRunner

    from sciarch.screening.cli import app

    lib = tmp_path / "lib.smi"
    with gzip.open(PROJECT_ROOT / "data/drugscreen/zinc250k_jtvae_valid.smi.gz", "rt") as fh:
        lib.write_text("".join(next(fh) for _ in range(n)))
    out = tmp_path / "screen"
    res = CliRunner().invoke(app, ["screen", "--model", str(MODELS / name), "--library", str(lib),
                                   "--target", str(MODELS / name / "ABL1.fasta"), "--top", "5",
                                   "--workers", "0", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return (out / "hits.csv").read_text().splitlines()


def test_reference_model_screens_a_few_zinc_molecules(tmp_path):
    """``sciarch screen --model models/davis-gin`` on a fresh clone: no training, hits ranked."""
    rows = _screen_zinc("davis-gin", tmp_path)
    assert rows[0].startswith("rank,id,smiles,line") and len(rows) == 6
    scores = np.array([float(r.split(",")[-1]) for r in rows[1:]])
    assert np.all(np.diff(scores) <= 0) and np.all((scores > 3) & (scores < 11))  # ranked pKd values


def test_reference_ensemble_screens_with_member_spread(tmp_path):
    """The shipped ensemble ranks by the member mean and writes the members' spread per hit."""
    card = json.loads((MODELS / "davis-gin-ens" / "card.json").read_text())
    assert len(card["members"]) >= 3 and (MODELS / "davis-gin-ens" / "model.keras").stat().st_size < 10 * 2**20
    rows = _screen_zinc("davis-gin-ens", tmp_path)
    header = rows[0].split(",")
    assert header[-2:] == ["score_ABL1", "spread_ABL1"] and len(rows) == 6
    values = np.array([[float(v) for v in r.split(",")[-2:]] for r in rows[1:]])
    assert np.all(np.diff(values[:, 0]) <= 0) and np.all((values[:, 0] > 3) & (values[:, 0] < 11))
    assert np.all(values[:, 1] > 0) and np.all(values[:, 1] < 2)  # members disagree, by less than 2 pKd units
