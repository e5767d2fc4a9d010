"""The shipped splice-site reference models (models/splice-*): they load with safe_mode, reproduce the
check gene of their card, rank true sites of a held-out gene first through ``sciarch genomics predict``
on a fresh clone, and stay small."""

import json

import keras
import numpy as np
import pytest
from typer.testing import CliRunner

from pipelines.genomics.reference import GENE_KEYS, card_markdown, check_gene_metrics
from sciarch.pipeline import PROJECT_ROOT

MODELS = PROJECT_ROOT / "models"
NAMES = sorted(p.name for p in MODELS.glob("splice-*") if (p / "card.json").is_file())


def test_a_splice_reference_model_ships():
    assert NAMES, "no models/splice-* reference model"


@pytest.mark.parametrize("name", NAMES)
def test_splice_reference_loads_and_reproduces_its_check_gene(name):
    d = MODELS / name
    assert (d / "model.keras").stat().st_size < 10 * 2**20
    card = json.loads((d / "card.json").read_text())
    assert card["name"] == name and f"models/{name} " in (d / "README.md").read_text()
    assert card["command"] in (d / "README.md").read_text()
    import pipelines.genomics.model  # noqa: F401  (registers the pipeline's Keras classes)

    model = keras.models.load_model(d / "model.keras", safe_mode=True)
    got, want = check_gene_metrics(d, model=model), card["check_gene"]
    assert got["gene"] == want["gene"] and got["positions"] == want["positions"]
    for k in ("acceptor_pr_auc", "donor_pr_auc"):
        assert got[k] == pytest.approx(want[k], abs=0.005), (k, got)
    for k in ("acceptor_topk", "donor_topk"):
        assert got[k] == pytest.approx(want[k], abs=1e-9), (k, got)
    # the held-out figures on the card are the run's own evaluation, far above the PWM's
    ev = json.loads((d / "metrics.json").read_text())["evaluation"]
    assert all(card["heldout_genes"][k] == pytest.approx(ev[f"genes/{k}"]) for k in GENE_KEYS)
    assert card["heldout_genes"]["topk_mean"] > card["heldout_pwm"]["topk_mean"] + 0.2


def test_card_markdown_names_genes_metrics_and_command():
    card = json.loads((MODELS / NAMES[0] / "card.json").read_text())
    text = card_markdown(NAMES[0], card)
    assert card["command"] in text and f"{card['heldout_genes']['topk_mean']:.4f}" in text
    assert all(g in text for g in card["genes"])


def test_predict_with_the_reference_model_ranks_true_sites_of_a_held_out_gene(tmp_path):
    """``sciarch genomics predict models/splice-* --genome --annotation --gene`` without training: on the
    held-out TMEM18 (minus strand), the true donors score far above the gene's other positions."""
    from pipelines.genomics.cli import app

    name = NAMES[0]
    data = PROJECT_ROOT / "data/genomics"
    res = CliRunner().invoke(app, ["predict", str(MODELS / name), "--genome", str(data / "hg38_chr2_1-1699999.fa.gz"),
                                   "--annotation", str(data / "spliceai_grch38_canonical_annotation.tsv.gz"),
                                   "--gene", "TMEM18", "--out", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    rows = [ln.split("\t") for ln in (tmp_path / "g.tsv").read_text().splitlines()]
    header, rows = rows[0], rows[1:]
    donor = np.array([float(r[header.index("donor")]) for r in rows])
    is_donor = np.array([r[header.index("label")] == "donor" for r in rows])
    assert is_donor.sum() >= 3 and all(r[2] == "-" for r in rows)
    assert np.median(donor[is_donor]) > 100 * np.median(donor[~is_donor])
