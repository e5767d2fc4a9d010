"""Layers with loops, gathers, segment sums or FFTs compile and train under XLA
(``jit_compile=True``, what Keras picks by default on GPU) and give the same outputs."""

import numpy as np

import keras

from layer_cases import BATCH, build_cases, build_combined

# one representative per unusual op: while loop (scan), FFT (conv), per-offset slicing
# (windowed attention), gather + segment sum (GIN; EdgeConditionedConv uses the same ops), k-mer counting
XLA_CASES = ["DiagonalStateSpaceScan", "DiagonalStateSpaceConv", "WindowedAttention", "GINConv", "KmerComposition"]


def test_jit_compiled_train_step_and_predictions_match_eager():
    cases = build_cases()
    keras.utils.set_random_seed(0)
    model, make_inputs, names = build_combined({k: cases[k] for k in XLA_CASES})
    x = make_inputs(np.random.default_rng(0))
    eager = np.asarray(model(x, training=False))
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse", jit_compile=True)
    assert model.jit_compile is True
    pred = model.predict(x, batch_size=BATCH, verbose=0)
    np.testing.assert_allclose(pred, eager, atol=1e-4, rtol=1e-4)
    loss = model.train_on_batch(x, np.zeros((BATCH, len(names)), "float32"))
    assert np.isfinite(loss)
