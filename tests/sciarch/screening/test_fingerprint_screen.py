"""Screening a model that reads a ligand fingerprint (``model.ligand_fingerprint``).

The featuriser computes each accepted molecule's Morgan fingerprint from the molecule it
featurised (after salt stripping) when asked; the scorer names the size it needs, the screen
asks its worker processes for it (also for the chunks featurised while the model loads), and
the scores equal one-by-one model calls. A batch without the fingerprint is refused in one line.
"""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from sciarch.io.molecules import FINGERPRINT_KEY, morgan_fingerprints
from sciarch.screening.engine import run_screen
from sciarch.screening.featurize import FeaturizeOptions, expand_batch, featurize_chunk, featurize_records
from sciarch.screening.options import ScreenOptions

from screening_cases import _build_tiny_run, one_by_one_scores, zinc_lines

BITS = 128


@pytest.fixture(scope="module")
def tiny_run_fp(tmp_path_factory):
    return _build_tiny_run(tmp_path_factory.mktemp("tiny_run_fp"), ligand_fingerprint=BITS)


def _scorer(run, targets):
    from pipelines.drugscreen.screening import AffinityModelScorer

    return AffinityModelScorer.from_run_dir(run, targets)


def test_featuriser_adds_the_fingerprint_of_the_featurised_molecule():
    from sciarch.screening.readers import RawChunk

    lines = zinc_lines(30)
    raw = ("\n".join(lines) + "\n").encode()
    chunk = RawChunk(index=0, first_line=1, n_records=30, data=raw, file_pos=len(raw))
    fc = featurize_chunk(chunk, FeaturizeOptions(batch_size=8, fingerprint_bits=BITS))
    seen = 0
    for rows, arrays in fc.batches:
        fp = arrays[FINGERPRINT_KEY]
        assert fp.dtype == np.uint8 and fp.shape == (len(rows), BITS)
        np.testing.assert_array_equal(fp, morgan_fingerprints([fc.smiles[r] for r in rows], BITS))
        assert expand_batch(arrays)[FINGERPRINT_KEY].dtype == np.float32
        seen += len(rows)
    assert seen == 30
    plain = featurize_chunk(chunk, FeaturizeOptions(batch_size=8))
    assert all(FINGERPRINT_KEY not in a for _, a in plain.batches)
    # with salt stripping the fingerprint is the kept fragment's, like the graph
    ok, _ = featurize_records([(1, b"CC(=O)[O-].[Na+] acetate")], FeaturizeOptions(strip_salts=True, fingerprint_bits=BITS))
    np.testing.assert_array_equal(ok[0].fingerprint, morgan_fingerprints(["CC(=O)[O-]"], BITS)[0])
    with pytest.raises(ValueError, match="fingerprint_bits must be >= 0"):
        FeaturizeOptions(fingerprint_bits=-1)


def test_scorer_names_its_fingerprint_and_refuses_a_batch_without_it(tiny_run, tiny_run_fp, targets):
    from sciarch.io.molecules import collate_graphs, featurize_smiles
    from sciarch.screening.scoring import ScorerError, model_fingerprint_bits, with_scorer_features

    fp, plain = _scorer(tiny_run_fp, targets), _scorer(tiny_run, targets)
    assert (fp.fingerprint_bits, plain.fingerprint_bits) == (BITS, 0)
    assert fp.fingerprint["ligand_fingerprint"] == BITS and "ligand_fingerprint" not in plain.fingerprint
    assert (model_fingerprint_bits(tiny_run_fp), model_fingerprint_bits(tiny_run)) == (BITS, 0)
    assert with_scorer_features(FeaturizeOptions(), fp).fingerprint_bits == BITS
    assert with_scorer_features(FeaturizeOptions(fingerprint_bits=BITS), plain).fingerprint_bits == 0
    batch = collate_graphs([featurize_smiles("CCO")])
    with pytest.raises(ScorerError, match=f"reads a {BITS}-bit Morgan fingerprint .* the batch has none"):
        fp.score(batch)
    with pytest.raises(ScorerError, match="the batch has 64 bits"):
        fp.score(dict(batch, **{FINGERPRINT_KEY: morgan_fingerprints(["CCO"], 64)}))
    full = dict(batch, **{FINGERPRINT_KEY: morgan_fingerprints(["CCO"], BITS).astype(np.float32)})
    assert fp.score(full).shape == (1, 2)


@pytest.mark.parametrize("hint", [BITS, 0])
def test_screen_in_workers_equals_one_by_one_calls(tmp_path, tiny_run_fp, targets, hint):
    """The first chunks are featurised before the scorer exists with the hinted fingerprint size;
    a wrong hint (0) makes the screen read them again, so both give the one-by-one scores."""
    lines = zinc_lines(40)
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines) + "\n")
    cfg = ScreenOptions(library=str(lib), out=str(tmp_path / "out"), workers=1, progress=False, top_n=5,
                        chunk_records=16, batch_size=8)
    summary = run_screen(cfg, lambda: _scorer(tiny_run_fp, targets), graph_features_hint="v1",
                         fingerprint_bits_hint=hint)
    assert summary["counts"]["scored"] == 40
    assert summary["model"]["ligand_fingerprint"] == BITS
    ref = one_by_one_scores(tiny_run_fp, targets, lines, fingerprint_bits=BITS)
    t = pq.read_table(tmp_path / "out" / "scores.parquet")
    got = np.stack([t.column("score_AAK1").to_numpy(), t.column("score_ABL1(E255K)").to_numpy()], axis=1)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    assert np.std(ref[:, 0]) > 1e-3


def test_beam_screen_of_a_fingerprint_model_matches_the_local_screen(tmp_path, tiny_run_fp, targets):
    pytest.importorskip("apache_beam")
    import pyarrow as pa

    from sciarch.screening.beam import BeamJob, run_beam_screen

    lines = zinc_lines(60)
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(lines) + "\n")
    kw = dict(top_n=5, chunk_records=16, batch_size=8)
    run_screen(ScreenOptions(library=str(lib), out=str(tmp_path / "local"), workers=0, progress=False, **kw),
               lambda: _scorer(tiny_run_fp, targets))
    summary = run_beam_screen(ScreenOptions(str(lib), str(tmp_path / "beam"), **kw),
                              BeamJob([str(t) for t in targets], str(tiny_run_fp)))
    assert summary["status"] == "complete" and summary["counts"]["scored"] == 60
    local = pq.read_table(tmp_path / "local" / "scores.parquet")
    beam = pa.concat_tables([pq.read_table(f) for f in sorted((tmp_path / "beam" / "scores").glob("*.parquet"))])
    beam = beam.sort_by([("line", "ascending")])
    assert beam.column("line").to_pylist() == local.column("line").to_pylist()
    for col in ("score_AAK1", "score_ABL1(E255K)"):
        np.testing.assert_allclose(beam.column(col).to_numpy(), local.column(col).to_numpy(), rtol=1e-5, atol=1e-6)
