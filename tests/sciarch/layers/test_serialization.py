"""Every layer round-trips through model.save(.keras) / load_model(safe_mode=True)."""

import json
import os

import numpy as np
import pytest

import keras

import sciarch.layers
from layer_cases import COVERS, build_cases

CASES = build_cases()


def test_every_public_layer_is_covered():
    covered = {cls for names in COVERS.values() for cls in names}
    assert covered == set(sciarch.layers.__all__)


@pytest.mark.parametrize("name", sorted(CASES))
def test_save_load_roundtrip(name, tmp_path):
    keras.utils.set_random_seed(0)
    factory, make_inputs = CASES[name]
    model = factory()
    x = make_inputs(np.random.default_rng(1))
    before = np.asarray(model(x, training=False))
    assert np.all(np.isfinite(before))
    path = os.path.join(tmp_path, "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    after = np.asarray(loaded(x, training=False))
    np.testing.assert_array_equal(after, before)  # same weights, same ops: bitwise identical
    assert len(loaded.weights) == len(model.weights)
    # the reloaded model's layers are sciarch classes with identical configs
    for original, reloaded in zip(model.layers, loaded.layers):
        assert type(original) is type(reloaded)
        assert _normalise(original.get_config()) == _normalise(reloaded.get_config())


def _normalise(config):
    """Tuples and lists are the same thing once a config has been through JSON."""
    return json.loads(json.dumps(config, sort_keys=True))
