"""TFDS builders build offline from a data folder into a given data_dir."""

import numpy as np

from pipelines.genomics import data as D, sequence as S


def test_tfds_builders_offline(tmp_path, mini_data):
    from pipelines.genomics.tfds_builders import SpliceGenomePieces, SpliceWindows, build_all

    infos = build_all(tmp_path / "tfds", width=140, flank=200, source_dir=mini_data)
    assert set(infos) == {"splice_windows/w140", "splice_genome_pieces/f200"}
    w = SpliceWindows(config="w140", data_dir=str(tmp_path / "tfds"), source_dir=mini_data)
    n = {s: w.info.splits[s].num_examples for s in ("train", "validation")}
    expected = D.load_window_folder(mini_data, 140)
    assert sum(n.values()) > len(expected)  # window sets + genome site and decoy windows
    groups = {}
    for split in ("train", "validation"):
        rows = list(w.as_dataset(split=split).as_numpy_iterator())
        assert len(rows) == n[split]
        groups[split] = {r["group"].decode() for r in rows}
        for r in rows[:200]:
            seq = r["sequence"].decode()
            assert len(seq) == 140
            is_d, is_a = S.candidate_type(seq)
            if r["label"] == S.DONOR and r["source"].decode() == "hs3d":
                assert is_d
    assert not groups["train"] & groups["validation"]
    x, y = next(iter(w.as_dataset(split="train", as_supervised=True)))
    assert x.dtype.name == "string" and int(y) in (0, 1, 2)

    g = SpliceGenomePieces(config="f200", data_dir=str(tmp_path / "tfds"), source_dir=mini_data)
    genes = {}
    for split in g.info.splits:
        for ex in g.as_dataset(split=split).as_numpy_iterator():
            genes[ex["gene"].decode()] = ex
    assert set(genes) == {"ACP1", "TMEM18"}
    tm = genes["TMEM18"]
    assert tm["strand"].decode() == "-" and len(tm["sequence"]) == len(tm["labels"]) + 400
    donors = np.sort(tm["positions"][tm["labels"] == S.DONOR])
    assert donors.tolist() == [669757, 672808, 675510, 677289]
    seq = tm["sequence"].decode().upper()
    for i in np.flatnonzero(tm["labels"] == S.DONOR):
        assert seq[200 + i + 1 : 200 + i + 3] == "GT"
