"""The Beam screen's DoFns and CombineFn: read chunks, featurise, table rows, global top N.

Each transform calls the local screen's function for its step (reader, featuriser,
ranking); nothing is copied.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from typing import Sequence

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from sciarch.screening.featurize import Reject, featurize_chunk
from sciarch.screening.options import ScreenOptions
from sciarch.screening.ranking import TopN, ranking_key
from sciarch.screening.readers import LibraryReadError, iter_raw_chunks

__all__ = [
    "LINE_MASK",
    "METRICS_NAMESPACE",
    "SHARD_SHIFT",
    "Featurize",
    "FindDuplicates",
    "ReadChunks",
    "ToRows",
    "TopNCombineFn",
    "dedup_entries",
    "drop_duplicates",
    "is_remote",
    "local_copy",
    "scores_schema",
]

#: Hits carry ``shard << SHARD_SHIFT | line`` while ranked, so ties break by (shard, line)
SHARD_SHIFT = 40
LINE_MASK = (1 << SHARD_SHIFT) - 1
METRICS_NAMESPACE = "sciarch.screen"


def is_remote(path: str) -> bool:
    """A Beam filesystem URI (``gs://``, ``s3://`` ...) rather than a local path."""
    return "://" in str(path)


def local_copy(path: str, tmpdir: str) -> str:
    """A local file for ``path`` (remote shards are streamed to the worker's disk first)."""
    if not is_remote(path):
        return path
    from apache_beam.io.filesystems import FileSystems

    local = os.path.join(tmpdir, os.path.basename(path.rstrip("/")))
    with FileSystems.open(path, compression_type="uncompressed") as src, open(local, "wb") as dst:
        while True:
            b = src.read(1 << 22)
            if not b:
                break
            dst.write(b)
    return local


def scores_schema(score_columns: Sequence[str]):
    """Arrow schema of the sharded scores files: ``shard, line, id, smiles, score_<target>...``."""
    import pyarrow as pa

    return pa.schema(
        [("shard", pa.string()), ("line", pa.int64()), ("id", pa.string()), ("smiles", pa.string())]
        + [(c, pa.float32()) for c in score_columns]
    )


class ReadChunks(beam.DoFn):
    """``(shard_index, path)`` -> ``(shard_index, RawChunk)``; read errors to the tagged output ``errors``
    as ``(path, unread_from_line or None, message)``."""

    def __init__(self, options: ScreenOptions):
        self.options = options
        self.chunks = Metrics.counter(METRICS_NAMESPACE, "chunks")

    def process(self, item):
        shard, path = item
        with tempfile.TemporaryDirectory() as tmp:
            local = local_copy(path, tmp)
            try:
                spec = self.options.library_spec(local)
                for chunk in iter_raw_chunks(spec, self.options.chunk_records):
                    self.chunks.inc()
                    yield shard, chunk
            except LibraryReadError as exc:
                yield beam.pvalue.TaggedOutput("errors", (path, exc.unread_from_line, str(exc).replace(local, path)))


class Featurize(beam.DoFn):
    """``(shard, RawChunk)`` -> ``((shard, chunk index), FeaturizedChunk)``; rejects tagged ``rejects``."""

    def __init__(self, options_by_shard: dict):
        self.options_by_shard = options_by_shard
        self.read = Metrics.counter(METRICS_NAMESPACE, "read")
        self.rejected = Metrics.counter(METRICS_NAMESPACE, "rejected")

    def process(self, item):
        shard, chunk = item
        fc = featurize_chunk(chunk, self.options_by_shard[shard])
        self.read.inc(fc.n_records)
        if fc.rejects:
            self.rejected.inc(len(fc.rejects))
            for r in fc.rejects:
                Metrics.counter(METRICS_NAMESPACE, f"rejected_{r.code}").inc()
                yield beam.pvalue.TaggedOutput("rejects", (shard, r))
        if len(fc.ids):
            fc.rejects = []
            yield (shard, fc.index), fc


def dedup_entries(item):
    """``((shard, chunk), FeaturizedChunk)`` (featurised with ``dedup``) -> one
    ``(canonical key, (shard << SHARD_SHIFT | line, (shard, chunk), raw))`` per molecule."""
    (shard, index), fc = item
    for key, line, raw in zip(fc.keys.tolist(), fc.lines.tolist(), fc.raws):
        yield key, ((shard << SHARD_SHIFT) | line, (shard, index), raw)


class FindDuplicates(beam.DoFn):
    """``(canonical key, occurrences)`` -> ``((shard, chunk), line)`` of every occurrence after the
    first in (shard, line) order (main), and its ledger row ``(shard, Reject)`` (tagged ``rejects``);
    the local screen's rule and message."""

    def __init__(self, shard_names: list[str]):
        self.shard_names = shard_names
        self.rejected = Metrics.counter(METRICS_NAMESPACE, "rejected")
        self.duplicate = Metrics.counter(METRICS_NAMESPACE, "rejected_duplicate")

    def process(self, item):
        _, occurrences = item
        occurrences = sorted(occurrences, key=lambda o: o[0])
        first = occurrences[0][0]
        first_shard = first >> SHARD_SHIFT
        for gline, chunk_key, raw in occurrences[1:]:
            shard = gline >> SHARD_SHIFT
            where = f"line {first & LINE_MASK}"
            if shard != first_shard:
                where += f" of {self.shard_names[first_shard]}"
            self.rejected.inc()
            self.duplicate.inc()
            yield beam.pvalue.TaggedOutput(
                "rejects", (shard, Reject(gline & LINE_MASK, raw, "duplicate", f"same canonical SMILES as {where}"))
            )
            yield chunk_key, gline & LINE_MASK


def drop_duplicates(item):
    """``((shard, chunk), {"scored": [PredictionResult], "duplicates": [line, ...]})`` ->
    ``((shard, chunk), PredictionResult)`` without the duplicate molecules' rows."""
    from apache_beam.ml.inference.base import PredictionResult

    key, groups = item
    dups = set(groups["duplicates"])
    for result in groups["scored"]:
        fc = result.example
        if not dups:
            yield key, result
            continue
        idx = np.array([i for i, line in enumerate(fc.lines.tolist()) if line not in dups], dtype=np.int64)
        kept = dataclasses.replace(
            fc, lines=fc.lines[idx], ids=[fc.ids[i] for i in idx.tolist()], smiles=[fc.smiles[i] for i in idx.tolist()],
            keys=None, raws=None, batches=[],
        )
        yield key, PredictionResult(kept, np.asarray(result.inference, dtype=np.float32)[idx])


class ToRows(beam.DoFn):
    """``((shard, chunk), PredictionResult)`` -> a pyarrow table (main) and ranking input (tagged ``rank``)."""

    def __init__(self, shard_names: list[str], score_columns: list[str]):
        self.shard_names = shard_names
        self.score_columns = score_columns
        self.scored = Metrics.counter(METRICS_NAMESPACE, "scored")

    def setup(self):
        import pyarrow as pa

        self.schema = scores_schema(self.score_columns)
        self.pa = pa

    def process(self, item):
        (shard, _), result = item
        fc, scores = result.example, np.asarray(result.inference, dtype=np.float32)
        pa = self.pa
        n = len(fc.ids)
        if n == 0:  # every molecule of the chunk was a duplicate
            return
        self.scored.inc(n)
        cols = [
            pa.array([self.shard_names[shard]] * n, pa.string()),
            pa.array(fc.lines, pa.int64()),
            pa.array(fc.ids, pa.string()),
            pa.array(fc.smiles, pa.string()),
        ] + [pa.array(scores[:, j], pa.float32()) for j in range(scores.shape[1])]
        yield pa.Table.from_arrays(cols, schema=self.schema)
        glines = (np.int64(shard) << SHARD_SHIFT) | fc.lines.astype(np.int64)
        yield beam.pvalue.TaggedOutput("rank", (glines, fc.ids, fc.smiles, scores))


class TopNCombineFn(beam.CombineFn):
    """Global top N: accumulators are :class:`~sciarch.screening.ranking.TopN` (offer / merge)."""

    def __init__(self, n: int, rank_by, higher_is_better: bool):
        self.n, self.rank_by, self.higher_is_better = n, rank_by, higher_is_better

    def create_accumulator(self):
        return TopN(self.n)

    def add_input(self, acc, element):
        glines, ids, smiles, scores = element
        acc.offer(ranking_key(scores, self.rank_by, self.higher_is_better), glines, ids, smiles, scores)
        return acc

    def merge_accumulators(self, accs):
        accs = iter(accs)
        first = next(accs)
        for a in accs:
            first.merge(a)
        return first

    def extract_output(self, acc):
        return acc.ranked()
