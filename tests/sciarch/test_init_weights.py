"""``train.init_weights``: training starts from a finished run's weights (continue or fine-tune
it), on the blobs fixture pipeline; other architectures and missing models are one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tests.fixtures.blobs_pipeline as blobs  # noqa: F401  (registers the fixture pipeline)
from sciarch import runner as R
from sciarch.config import ConfigError, load_config
from tests.sciarch.test_training_schedules import FIXTURE_CFG, SMALL, _history
from tests.sciarch.test_run_dirs import _weights


def _cfg(*extra):
    return load_config(FIXTURE_CFG, [*SMALL, *extra], pipeline="blobs")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return R.run_pipeline(_cfg("train.epochs=3"), out=tmp_path_factory.mktemp("init") / "source")


def _built(cfg):
    pipeline = R.get_pipeline_class(cfg.pipeline)(cfg)
    model, _ = R.build_training(pipeline, tf.distribute.get_strategy())
    return model.get_weights()


@pytest.mark.parametrize("as_file", [False, True])
def test_the_model_starts_from_the_source_weights(trained, as_file):
    source = trained.dir / "model.keras" if as_file else trained.dir
    started = _built(_cfg(f"train.init_weights={source}"))
    for a, b in zip(started, _weights(trained.dir), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = _built(_cfg())
    assert any(not np.array_equal(a, b) for a, b in zip(fresh, _weights(trained.dir), strict=True))


def test_training_continues_from_the_source(trained, tmp_path):
    src_rows = _history(trained.dir)
    run = R.run_pipeline(_cfg("train.epochs=1", f"train.init_weights={trained.dir}"), out=tmp_path / "continued")
    rows = _history(run.dir)
    # a fresh start has the source's first-epoch loss; a continued one starts where the source ended
    assert rows[0]["loss"] < src_rows[0]["loss"]
    assert rows[0]["loss"] <= src_rows[-1]["loss"] * 1.5
    assert any(not np.array_equal(a, b) for a, b in zip(_weights(run.dir), _weights(trained.dir), strict=True))


def test_another_architecture_is_one_line_naming_the_key_and_shapes(trained):
    with pytest.raises(ConfigError, match=r"train\.init_weights.*shape \(4, 8\).*wants \(4, 16\)") as err:
        _built(_cfg("model.hidden=16", f"train.init_weights={trained.dir}"))
    assert "\n" not in str(err.value)


def test_a_missing_source_names_the_key_and_the_path(tmp_path):
    for source in (tmp_path / "nowhere", tmp_path / "gone.keras"):
        with pytest.raises(ConfigError, match=rf"train\.init_weights.*{source.name}"):
            _built(_cfg(f"train.init_weights={source}"))


def test_an_ensemble_cannot_start_every_member_from_one_model(trained):
    with pytest.raises(ConfigError, match="init_weights.*ensemble"):
        _cfg("train.ensemble=2", f"train.init_weights={trained.dir}")
