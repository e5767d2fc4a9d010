"""The comparison step trains the baselines; the report only reads its result."""

import json
from types import SimpleNamespace

import keras
import pytest

import pipelines.ecorisk.train as train_module
from pipelines.ecorisk import report as R
from pipelines.ecorisk.comparison import compare_models


@pytest.fixture()
def counted_twin(monkeypatch, amazon_pipeline):
    """fit_with_loss replaced by an untrained model of the same architecture, counting calls."""
    calls = []

    def fake_fit(pipe, loss_name=None, **kw):
        calls.append(loss_name)
        keras.utils.set_random_seed(1)
        return pipe.build_model()

    monkeypatch.setattr(train_module, "fit_with_loss", fake_fit)
    return calls


def test_report_reads_the_comparison_and_trains_nothing(tmp_path, monkeypatch, amazon_pipeline, counted_twin):
    keras.utils.set_random_seed(0)
    model = amazon_pipeline.build_model()
    comp = amazon_pipeline.compare(model)
    assert counted_twin == ["binary_crossentropy"]
    assert list(comp.metrics) == ["model (ecological_fairness)", "model, prior-corrected", "plain BCE",
                                  "logistic regression"]
    assert comp.split == "test" and len(comp.target) == len(comp.predictions["plain BCE"])

    files = amazon_pipeline.report(SimpleNamespace(dir=tmp_path), model, {})
    assert counted_twin == ["binary_crossentropy"]  # the step ran once; the report reused it
    assert {"comparison.png", "zone_risk.png", "risk_map.png", "budget_capture.png",
            "reliability.png"} <= {p.name for p in files}
    assert json.loads((tmp_path / "comparison.json").read_text()) == json.loads(json.dumps(comp.to_json()))

    # the report module itself never trains
    def no_training(*a, **k):
        raise AssertionError("write_report trained a model")

    monkeypatch.setattr(train_module, "fit_with_loss", no_training)
    out = tmp_path / "again"
    R.write_report(amazon_pipeline, out, model, {}, comp)
    assert (out / "comparison.json").read_bytes() == (tmp_path / "comparison.json").read_bytes()


def test_a_new_model_gets_a_new_comparison(amazon_pipeline, counted_twin):
    keras.utils.set_random_seed(0)
    a, b = amazon_pipeline.build_model(), amazon_pipeline.build_model()
    first = amazon_pipeline.compare(a)
    assert amazon_pipeline.compare(a) is first
    assert amazon_pipeline.compare(b) is not first
    assert compare_models(amazon_pipeline, b).metrics.keys() == first.metrics.keys()
    assert len(counted_twin) == 3
