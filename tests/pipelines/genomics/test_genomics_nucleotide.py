"""Per-nucleotide model (SpliceAI layout): receptive field = context, cropping, ablation arms,
streamed chunks, mixed precision."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from pipelines.genomics import genome as G, sequence as S
from pipelines.genomics.model import build_nucleotide_model, receptive_field, stages_for

from genomics_helpers import make_pipeline


def test_context_ladder_receptive_fields():
    assert [receptive_field(stages_for(c)) for c in (80, 400, 2000, 10000)] == [80, 400, 2000, 10000]
    assert stages_for(200) == stages_for(400) and stages_for(20000) == stages_for(10000)


@pytest.mark.parametrize("rnn,heads", [("none", 0), ("gru", 0), ("gru", 1)])
def test_ablation_arms_crop_the_flanks(rnn, heads):
    keras.utils.set_random_seed(0)
    m = build_nucleotide_model(80, filters=8, rnn=rnn, rnn_units=4, attention_heads=heads, key_dim=4,
                               attention_window=9)
    rng = np.random.default_rng(0)
    n = 300 if rnn == "none" else 120  # (a short input keeps the eager RNN cheap)
    x = S.encode(["".join(rng.choice(list("ACGT"), n))], n).astype(np.float32)
    y = np.asarray(m(x, training=False))
    assert y.shape == (1, n - 80, 3) and np.allclose(y.sum(-1), 1, atol=1e-5)
    if rnn == "none" and heads == 0:  # CNN only: position t sees exactly t-40 .. t+40 of the input
        x2 = x.copy()
        x2[0, 140] = x2[0, 140][::-1]  # change input base 140 = output position 100
        d = np.abs(np.asarray(m(x2, training=False)) - y).max(-1)[0]
        assert d[100 - 40] > 0 and d[100 + 40] > 0 and d[: 100 - 40].max() == 0 and d[100 + 41 :].max() == 0
    names = {layer.name for layer in m.layers}
    assert ("bigru" in names) == (rnn == "gru") and ("self_attention" in names) == (heads > 0)


def test_chunks_are_cut_on_the_fly_from_the_gene_regions(mini_data):
    p = make_pipeline(mini_data, mode="nucleotide", context=400, block=1000, validation_fraction=0.5,
                      sources=["genome"])
    P = p.prepare()
    chunks, y, w = P.chunks["train"]
    assert len(chunks.regions) >= 1 and len(chunks) == len(y)
    # chunk i is the gene region's [offset, offset + block + context), N past its end
    (piece,) = [pc for pc in P.pieces if any(P.gene_split[(pc.name, n)] == "train" for n in pc.genes)]
    gene = next(g for n, g in piece.genes.items() if P.gene_split[(piece.name, n)] == "train")
    tseq = G.transcript_region(piece, gene, 200)
    for i in (0, len(chunks) - 1):
        r, a = chunks.index[i]
        assert np.array_equal(chunks.x(i), S.encode(S.pad_slice(tseq, a, a + 1400), 1400)[0])
    x, yb, wb = next(iter(p.build_inputs("train")))
    assert x.shape[1:] == (1400, 4) and yb.shape[1:] == (1000,)
    batches = [b[1].numpy() for b in p.build_inputs("train")]
    assert sum(len(b) for b in batches) == len(chunks)  # every chunk once per epoch


def test_mixed_precision_softmax_stays_float32():
    policy = keras.mixed_precision.global_policy()
    try:
        keras.mixed_precision.set_global_policy("mixed_float16")
        m = build_nucleotide_model(80, filters=8, rnn="gru", rnn_units=4, attention_heads=1, key_dim=4,
                                   attention_window=9)
        y = m(np.zeros((1, 180, 4), np.float32))
        assert m.get_layer("stem").compute_dtype == "float16"
        assert keras.backend.standardize_dtype(y.dtype) == "float32"
    finally:
        keras.mixed_precision.set_global_policy(policy)

