"""The screen as an Apache Beam pipeline (RunInference): the same functions as ``sciarch screen``.

Libraries of 10^8-10^9 molecules outgrow one machine; this module runs the local screen's
building blocks as Beam transforms, so the same pipeline runs on the DirectRunner (tested)
and unchanged on Dataflow, Flink or Spark (not testable here)::

    shard paths (glob, sorted)
      -> ReadChunks (DoFn)     readers.LibrarySpec.from_path + readers.iter_raw_chunks   (line numbers kept)
      -> Reshuffle             spreads chunks over workers
      -> Featurize (DoFn)      featurize.featurize_chunk                                  -> rejects (tagged)
      -> RunInference          KeyedModelHandler(ScreenModelHandler): scoring.score_chunk
                               (model loaded once per worker, each target encoded once)
      -> ToRows                one pyarrow table per chunk  -> WriteToParquetBatched (sharded scores)
      -> CombineGlobally(TopNCombineFn)  ranking.ranking_key + TopN.offer / TopN.merge -> hits.csv
    rejects -> Reject.tsv_line() -> WriteToText (sharded, header "line\\traw\\treason")

Nothing is copied from the local screen: reader, featuriser, scorer call, ranking and
output formatting are imported. The RunInference element is one featurised chunk (keyed by
``(shard, chunk)``); its molecules are already in padded, atom-count-sorted batches of
``batch_size``, and the handler scores them with :func:`~sciarch.screening.scoring.score_chunk`,
the exact call of the local screen, so scores agree to float tolerance.

Outputs under ``--out`` (a local path or any Beam filesystem URI such as ``gs://``):

* ``hits.csv`` -- the global top N, byte-for-byte the local format for one library file;
  with several shards a ``shard`` column (file name) follows ``line``;
* ``scores/scores-SSSSS-of-NNNNN.parquet`` -- every scored molecule
  (``shard, line, id, smiles, score_<target>...``), unordered across files;
* ``rejected/rejected-SSSSS-of-NNNNN.tsv`` -- every line that could not be scored, the local
  ``rejected.tsv`` rows (``line, raw, reason``; with several shards ``shard`` comes first);
* ``read_errors/...`` -- shards whose compressed stream was truncated/corrupt (everything
  before the error is scored); the command then exits with status 1;
* ``summary.json`` -- counts (from Beam metrics), runner, wall time, molecules/s.

Ties in the ranking are broken by (shard order, line), so the top N is deterministic.
``--dedup`` (global de-duplication by canonical SMILES) is not available on this runner.

Example:
    python -m sciarch.screening.beam --model runs/davis --library 'libs/part-*.smi.gz' \\
        --target egfr.fasta --top 100 --out screens/egfr_beam            # DirectRunner
    python -m sciarch.screening.beam ... --runner DataflowRunner \\
        --beam-option=--project=my-project --beam-option=--region=europe-west4 \\
        --beam-option=--temp_location=gs://bucket/tmp --beam-option=--setup_file=./setup.py
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence

import numpy as np

from sciarch.screening.featurize import FeaturizeOptions, Reject, featurize_chunk
from sciarch.screening.outputs import REJECTED_HEADER, hits_csv_text
from sciarch.screening.ranking import Hit, TopN, ranking_key
from sciarch.screening.readers import LibraryReadError, LibrarySpec, iter_raw_chunks
from sciarch.screening.scoring import load_targets, score_chunk

__all__ = [
    "BeamScreenConfig",
    "ScreenModelHandler",
    "TopNCombineFn",
    "build_pipeline",
    "run_beam_screen",
]

#: Hits carry ``shard << SHARD_SHIFT | line`` while ranked, so ties break by (shard, line)
SHARD_SHIFT = 40
_LINE_MASK = (1 << SHARD_SHIFT) - 1
METRICS_NAMESPACE = "sciarch.screen"


def _is_remote(path: str) -> bool:
    return "://" in str(path)


# ----------------------------------------------------------------------------- configuration
class BeamScreenConfig:
    """Settings of a Beam screen (the local screen's options that apply to a distributed run).

    Args:
        library: a file, a glob (``'libs/*.smi.gz'``, ``gs://bucket/libs/*.csv``) or a list of them.
        model: run directory of the trained affinity model (local or a Beam filesystem URI).
        targets: protein FASTA files (read on the launching machine; the sequences travel with the job).
        out: output directory (local or URI).
        top_n, rank_by, higher_is_better: ranking, as in the local screen.
        smiles_column, id_column, delimiter: CSV layout (the same for every shard).
        chunk_records: records per chunk (the unit of parallel work).
        batch_size: molecules per padded inference batch.
        max_atoms, strip_salts, filters: featurisation filters, as in the local screen.
        scorer: optional ``'package.module:factory'`` custom scorer (as ``sciarch screen --scorer``).
        runner: Beam runner name (``DirectRunner``, ``DataflowRunner``, ``FlinkRunner``, ...).
        beam_options: extra Beam pipeline options (``["--project=p", "--region=r", ...]``).
        score_shards: number of scores/rejected output files (0 = let the runner decide).
    """

    def __init__(
        self,
        library: str | Sequence[str],
        model: Optional[str],
        targets: Sequence[str],
        out: str,
        top_n: int = 100,
        rank_by: str = "mean",
        higher_is_better: bool = True,
        smiles_column: Optional[str] = None,
        id_column: Optional[str] = None,
        delimiter: Optional[str] = None,
        chunk_records: int = 4096,
        batch_size: int = 1024,
        max_atoms: Optional[int] = 150,
        strip_salts: bool = False,
        filters: Sequence[str] = (),
        scorer: Optional[str] = None,
        runner: str = "DirectRunner",
        beam_options: Sequence[str] = (),
        score_shards: int = 0,
    ):
        if top_n < 1:
            raise ValueError("top N must be >= 1")
        if model is None and scorer is None:
            raise ValueError("--model RUN_DIR is required (or a custom --scorer)")
        self.library = [library] if isinstance(library, (str, os.PathLike)) else list(library)
        self.model = None if model is None else str(model)
        self.targets = [str(t) for t in targets]
        self.out = str(out)
        self.top_n = int(top_n)
        self.rank_by = rank_by
        self.higher_is_better = higher_is_better
        self.smiles_column = smiles_column
        self.id_column = id_column
        self.delimiter = delimiter
        self.chunk_records = int(chunk_records)
        self.batch_size = int(batch_size)
        self.max_atoms = max_atoms
        self.strip_salts = strip_salts
        self.filters = tuple(filters)
        self.scorer = scorer
        self.runner = runner
        self.beam_options = list(beam_options)
        self.score_shards = int(score_shards)


def expand_library(patterns: Sequence[str]) -> list[str]:
    """Sorted, de-duplicated shard paths of file names / globs (any Beam filesystem)."""
    from apache_beam.io.filesystems import FileSystems

    paths: list[str] = []
    for pat in patterns:
        pat = str(pat)
        if not _is_remote(pat) and not any(c in pat for c in "*?["):
            if not Path(pat).is_file():
                raise LibraryReadError(f"{pat}: library file not found")
            paths.append(pat)
            continue
        found = [m.path for r in FileSystems.match([pat]) for m in r.metadata_list]
        if not found:
            raise LibraryReadError(f"{pat}: no library file matches this pattern")
        paths.extend(found)
    return sorted(dict.fromkeys(paths))


# ----------------------------------------------------------------------------- read / featurise
def _local_copy(path: str, tmpdir: str) -> str:
    """A local file for ``path`` (remote shards are streamed to the worker's disk first)."""
    if not _is_remote(path):
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


class _ReadChunks:
    """DoFn body: ``(shard_index, path)`` -> ``(shard_index, RawChunk)``; read errors to a tagged output."""

    def __init__(self, cfg: BeamScreenConfig):
        self.chunk_records = cfg.chunk_records
        self.smiles_column = cfg.smiles_column
        self.id_column = cfg.id_column
        self.delimiter = cfg.delimiter


def _make_dofns():
    """The DoFns and the CombineFn (defined lazily so that importing this module needs no Beam)."""
    import apache_beam as beam
    from apache_beam.metrics import Metrics

    class ReadChunks(beam.DoFn):
        def __init__(self, cfg: BeamScreenConfig):
            self.r = _ReadChunks(cfg)
            self.chunks = Metrics.counter(METRICS_NAMESPACE, "chunks")

        def process(self, item):
            shard, path = item
            with tempfile.TemporaryDirectory() as tmp:
                local = _local_copy(path, tmp)
                try:
                    spec = LibrarySpec.from_path(
                        local, smiles_column=self.r.smiles_column, id_column=self.r.id_column, delimiter=self.r.delimiter
                    )
                    for chunk in iter_raw_chunks(spec, self.r.chunk_records):
                        self.chunks.inc()
                        yield shard, chunk
                except LibraryReadError as exc:
                    yield beam.pvalue.TaggedOutput("errors", f"{path}\t{str(exc).replace(local, path)}")

    class Featurize(beam.DoFn):
        """``(shard, RawChunk)`` -> ``((shard, chunk index), FeaturizedChunk)``; rejects tagged."""

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

    class ToRows(beam.DoFn):
        """``((shard, chunk), PredictionResult)`` -> a pyarrow table (main) and ranking input (tagged)."""

        def __init__(self, shard_names: list[str], score_columns: list[str]):
            self.shard_names = shard_names
            self.score_columns = score_columns
            self.scored = Metrics.counter(METRICS_NAMESPACE, "scored")

        def setup(self):
            import pyarrow as pa

            self.schema = _scores_schema(self.score_columns)
            self.pa = pa

        def process(self, item):
            (shard, _), result = item
            fc, scores = result.example, np.asarray(result.inference, dtype=np.float32)
            pa = self.pa
            n = len(fc.ids)
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

    return ReadChunks, Featurize, ToRows, TopNCombineFn


def _scores_schema(score_columns: Sequence[str]):
    import pyarrow as pa

    return pa.schema(
        [("shard", pa.string()), ("line", pa.int64()), ("id", pa.string()), ("smiles", pa.string())]
        + [(c, pa.float32()) for c in score_columns]
    )


# ----------------------------------------------------------------------------- the model handler
def _make_handler_class():
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult

    class ScreenModelHandler(ModelHandler):
        """RunInference handler over a trained sciarch affinity model (no tensorflow_hub / tf-keras).

        ``load_model`` builds the local screen's :class:`~sciarch.screening.scoring.AffinityModelScorer`
        (once per worker process; Beam shares it between the worker's threads): it loads
        ``model.keras``, tokenises and encodes each target once. ``run_inference`` scores each
        featurised chunk with :func:`~sciarch.screening.scoring.score_chunk`, the local screen's
        call: ligand encoder + affinity head per padded batch.

        Args:
            model_dir: run directory (local path or Beam filesystem URI) with ``model.keras`` and
                ``config.yaml``.
            fasta_texts: ``[(file name, FASTA text), ...]`` of the targets (read by the launcher).
            scorer: optional ``'package.module:factory'`` custom scorer instead of the model.
            max_chunks_per_call: featurised chunks per ``run_inference`` call.
            target_names: the score columns the launcher expects (checked against the loaded scorer).

        Example:
            >>> from sciarch.screening.beam import ScreenModelHandler  # doctest: +SKIP
            >>> h = ScreenModelHandler("runs/davis", [("egfr.fasta", open("egfr.fasta").read())])  # doctest: +SKIP
            >>> RunInference(KeyedModelHandler(h))  # doctest: +SKIP
        """

        def __init__(self, model_dir, fasta_texts, scorer=None, max_chunks_per_call: int = 1, target_names=None):
            super().__init__(min_batch_size=1, max_batch_size=max_chunks_per_call)
            self.target_names = None if target_names is None else list(target_names)
            self.model_dir = model_dir
            self.fasta_texts = list(fasta_texts)
            self.scorer_spec = scorer

        def load_model(self):
            tmp = tempfile.mkdtemp(prefix="sciarch_screen_")
            fastas = []
            for i, (name, text) in enumerate(self.fasta_texts):
                p = Path(tmp) / f"{i:03d}_{Path(name).name}"
                p.write_text(text)
                fastas.append(p)
            model_dir = self.model_dir
            if model_dir is not None and _is_remote(model_dir):
                from apache_beam.io.filesystems import FileSystems

                local = Path(tmp) / "run"
                local.mkdir()
                for name in ("model.keras", "config.yaml"):
                    with FileSystems.open(FileSystems.join(model_dir, name), compression_type="uncompressed") as src:
                        (local / name).write_bytes(src.read())
                model_dir = str(local)
            if self.scorer_spec is not None:
                from sciarch.screening.cli import _custom_scorer

                return _custom_scorer(self.scorer_spec, None if model_dir is None else Path(model_dir), fastas)
            from sciarch.screening.scoring import AffinityModelScorer

            return AffinityModelScorer.from_run_dir(model_dir, fastas)

        def run_inference(self, batch, model, inference_args=None) -> Iterable:
            if self.target_names is not None and list(model.target_names) != self.target_names:
                raise RuntimeError(
                    f"the scorer on this worker scores targets {model.target_names}, the launcher expected "
                    f"{self.target_names}"
                )
            for fc in batch:
                yield PredictionResult(fc, score_chunk(model, fc))

        def get_num_bytes(self, batch) -> int:
            return int(sum(a.nbytes for fc in batch for _, arrs in fc.batches for a in arrs.values()))

        def get_metrics_namespace(self) -> str:
            return "sciarch_screen_inference"

    return ScreenModelHandler


def __getattr__(name):  # ScreenModelHandler / TopNCombineFn need apache_beam: built on first access
    if name == "ScreenModelHandler":
        return _make_handler_class()
    if name == "TopNCombineFn":
        return _make_dofns()[3]
    raise AttributeError(name)


# ----------------------------------------------------------------------------- pipeline
def _resolve_rank_by(rank_by: str, target_names: list[str]):
    if rank_by in ("mean", "max", "min"):
        return rank_by
    if rank_by in target_names:
        return target_names.index(rank_by)
    raise ValueError(f"--rank-by {rank_by!r}: not 'mean', 'max', 'min' or a target name ({', '.join(target_names)})")


def _featurize_options(cfg: BeamScreenConfig, spec: LibrarySpec) -> FeaturizeOptions:
    # the same mapping as the local engine (sciarch.screening.engine._Screen.run)
    return FeaturizeOptions(
        kind=spec.kind,
        delimiter=spec.delimiter,
        smiles_index=spec.smiles_index,
        id_index=spec.id_index,
        id_field=cfg.id_column if spec.kind == "sdf" else None,
        max_atoms=cfg.max_atoms,
        strip_salts=cfg.strip_salts,
        dedup=False,
        filters=tuple(cfg.filters),
        batch_size=cfg.batch_size,
    )


def _hits_text(hits: list[Hit], shard_names: list[str], score_columns: list[str]) -> str:
    """hits.csv: the local format (``hits_csv_text``); with several shards a ``shard`` column after ``line``."""
    local = [Hit(h.key, h.line & _LINE_MASK, h.id, h.smiles, h.scores) for h in hits]
    text = hits_csv_text(local, score_columns)
    if len(shard_names) == 1:
        return text
    rows = list(csv.reader(io.StringIO(text)))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(rows[0][:4] + ["shard"] + rows[0][4:])
    for h, row in zip(hits, rows[1:]):
        w.writerow(row[:4] + [shard_names[h.line >> SHARD_SHIFT]] + row[4:])
    return buf.getvalue()


def _write_text(path: str, text: str) -> None:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.create(path) as fh:
        fh.write(text.encode())


def _prepare(cfg: BeamScreenConfig) -> dict:
    """Launcher-side checks and everything the pipeline needs (fails early with clear messages)."""
    shards = expand_library(cfg.library)
    names = [os.path.basename(p.rstrip("/")) for p in shards]
    if len(set(names)) != len(names):
        names = shards  # equal base names in different folders: use full paths
    targets = load_targets(cfg.targets)  # ScorerError names the file
    target_names = [n for n, _ in targets]  # what AffinityModelScorer names them
    if cfg.scorer is not None:  # a custom scorer names its own targets: ask it once here
        from sciarch.screening.cli import _custom_scorer

        model = None if cfg.model is None else Path(cfg.model)
        target_names = list(_custom_scorer(cfg.scorer, model, [Path(t) for t in cfg.targets]).target_names)
    rank_by = _resolve_rank_by(cfg.rank_by, target_names)
    if cfg.model is not None and not _is_remote(cfg.model) and cfg.scorer is None:
        if not (Path(cfg.model) / "model.keras").is_file():
            from sciarch.screening.scoring import ScorerError

            raise ScorerError(f"{Path(cfg.model) / 'model.keras'}: no trained model in this run directory")
    options = {}
    for i, p in enumerate(shards):
        if _is_remote(p):  # layout from the file name; CSV columns are resolved on the worker
            from sciarch.screening.readers import detect_format

            kind, _ = detect_format(p)
            if kind == "csv":
                raise LibraryReadError(f"{p}: remote CSV shards are not supported yet (use .smi / .sdf shards)")
            spec = LibrarySpec(p, kind)
        else:
            spec = LibrarySpec.from_path(
                p, smiles_column=cfg.smiles_column, id_column=cfg.id_column, delimiter=cfg.delimiter
            )
        options[i] = _featurize_options(cfg, spec)
    fasta_texts = [(t, Path(t).read_text()) for t in cfg.targets]
    return {
        "shards": shards,
        "shard_names": names,
        "target_names": target_names,
        "score_columns": [f"score_{n}" for n in target_names],
        "rank_by": rank_by,
        "options": options,
        "fasta_texts": fasta_texts,
    }


def build_pipeline(p, cfg: BeamScreenConfig, prep: dict) -> None:
    """Add the screen's transforms to pipeline ``p`` (see the module docstring)."""
    import apache_beam as beam
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

    ReadChunks, Featurize, ToRows, TopNCombineFn = _make_dofns()
    ScreenModelHandler = _make_handler_class()
    out = cfg.out
    multi = len(prep["shards"]) > 1
    shard_names = prep["shard_names"]

    read = (
        p
        | "Shards" >> beam.Create(list(enumerate(prep["shards"])))
        | "ReadChunks" >> beam.ParDo(ReadChunks(cfg)).with_outputs("errors", main="chunks")
    )
    feats = (
        read.chunks
        | "Spread" >> beam.Reshuffle()
        | "Featurize" >> beam.ParDo(Featurize(prep["options"])).with_outputs("rejects", main="mols")
    )
    handler = KeyedModelHandler(
        ScreenModelHandler(cfg.model, prep["fasta_texts"], cfg.scorer, target_names=prep["target_names"])
    )
    scored = feats.mols | "Score" >> RunInference(handler)
    rows = scored | "ToRows" >> beam.ParDo(ToRows(shard_names, prep["score_columns"])).with_outputs("rank", main="tables")
    rows.tables | "WriteScores" >> beam.io.WriteToParquetBatched(
        FileSystems.join(out, "scores", "scores"),
        schema=_scores_schema(prep["score_columns"]),
        codec="zstd",
        file_name_suffix=".parquet",
        num_shards=cfg.score_shards,
    )
    header = REJECTED_HEADER.rstrip("\n")

    def reject_line(item):
        shard, r = item
        line = r.tsv_line().rstrip("\n")
        return f"{shard_names[shard]}\t{line}" if multi else line

    (
        feats.rejects
        | "RejectLines" >> beam.Map(reject_line)
        | "WriteRejected" >> beam.io.WriteToText(
            FileSystems.join(out, "rejected", "rejected"),
            file_name_suffix=".tsv",
            header=("shard\t" + header) if multi else header,
            num_shards=cfg.score_shards,
        )
    )
    read.errors | "WriteErrors" >> beam.io.WriteToText(
        FileSystems.join(out, "read_errors", "errors"), file_name_suffix=".tsv", header="shard\terror"
    )
    cols = prep["score_columns"]
    (
        rows.rank
        | "TopN" >> beam.CombineGlobally(TopNCombineFn(cfg.top_n, prep["rank_by"], cfg.higher_is_better))
        | "WriteHits" >> beam.Map(lambda hits: _write_text(FileSystems.join(out, "hits.csv"), _hits_text(hits, shard_names, cols)))
    )


def _counters(result) -> dict:
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        v = c.committed if c.committed is not None else c.attempted
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(v or 0)
    return out


def _read_errors(out: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    errs: list[str] = []
    for r in FileSystems.match([FileSystems.join(out, "read_errors", "errors*")]):
        for m in r.metadata_list:
            with FileSystems.open(m.path, compression_type="uncompressed") as fh:
                errs += [ln for ln in fh.read().decode().splitlines()[1:] if ln.strip()]
    return errs


def run_beam_screen(cfg: BeamScreenConfig) -> dict:
    """Build and run the Beam screen; wait for it; write and return ``summary.json``.

    Raises:
        LibraryReadError / ScorerError / ValueError: bad library, targets, model or options
        (checked on the launching machine before the job starts).
    """
    import apache_beam as beam
    from apache_beam.options.pipeline_options import PipelineOptions

    from sciarch.screening.scoring import file_sha256

    t0 = time.perf_counter()
    prep = _prepare(cfg)
    opts = PipelineOptions([f"--runner={cfg.runner}", *cfg.beam_options])  # a --runner in beam_options wins
    from apache_beam.options.pipeline_options import StandardOptions

    runner_name = opts.view_as(StandardOptions).runner or cfg.runner
    p = beam.Pipeline(options=opts)
    build_pipeline(p, cfg, prep)
    result = p.run()
    result.wait_until_finish()
    wall = time.perf_counter() - t0
    counts = _counters(result)
    errors = _read_errors(cfg.out)
    reasons = {k[len("rejected_"):]: v for k, v in sorted(counts.items()) if k.startswith("rejected_")}
    read = counts.get("read", 0)
    model_sha = None
    if cfg.model is not None and not _is_remote(cfg.model) and (Path(cfg.model) / "model.keras").is_file():
        model_sha = file_sha256(Path(cfg.model) / "model.keras")
    summary = {
        "status": "complete" if not errors else "incomplete",
        "errors": errors,
        "runner": runner_name,
        "beam_options": cfg.beam_options,
        "library": {"shards": prep["shards"]},
        "model": {"run_dir": cfg.model, "sha256": model_sha, "scorer": cfg.scorer},
        "targets": prep["target_names"],
        "counts": {
            "read": read,
            "scored": counts.get("scored", 0),
            "rejected": counts.get("rejected", 0),
            "rejected_by_reason": reasons,
            "chunks": counts.get("chunks", 0),
        },
        "top_n": cfg.top_n,
        "rank_by": cfg.rank_by,
        "higher_is_better": cfg.higher_is_better,
        "wall_time_s": round(wall, 3),
        "molecules_per_s": round(read / wall, 1) if wall > 0 else None,
        "outputs": {
            "hits": "hits.csv",
            "scores": "scores/scores-*.parquet",
            "rejected": "rejected/rejected-*.tsv",
            "read_errors": "read_errors/errors-*.tsv",
        },
    }
    from apache_beam.io.filesystems import FileSystems

    _write_text(FileSystems.join(cfg.out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------- command line
def main(
    model: Optional[Path] = None,
    library: list[str] = None,
    target: list[Path] = None,
    top: int = 100,
    out: Optional[str] = None,
    smiles_column: Optional[str] = None,
    id_column: Optional[str] = None,
    delimiter: Optional[str] = None,
    rank_by: str = "mean",
    lower_is_better: bool = False,
    max_atoms: int = 150,
    strip_salts: bool = False,
    filter_: Optional[list[str]] = None,
    batch_size: int = 1024,
    chunk_size: int = 4096,
    scorer: Optional[str] = None,
    runner: str = "DirectRunner",
    beam_option: Optional[list[str]] = None,
    output_shards: int = 0,
) -> None:
    """Screen sharded molecule libraries on Apache Beam (RunInference); write hits.csv, sharded scores and rejects.

    The same reader, featuriser, scorer call and ranking as `sciarch screen`; runs on the
    DirectRunner here and on Dataflow / Flink / Spark with `--runner` and `--beam-option`.

    Examples:

    * `python -m sciarch.screening.beam -m runs/davis -l 'libs/part-*.smi.gz' -t egfr.fasta --top 100 -o screens/egfr`
    * `python -m sciarch.screening.beam -m gs://b/runs/davis -l 'gs://b/libs/*.smi.gz' -t egfr.fasta -o gs://b/screens/egfr --runner DataflowRunner --beam-option=--project=P --beam-option=--region=R --beam-option=--temp_location=gs://b/tmp --beam-option=--setup_file=./setup.py`
    """
    import typer

    from sciarch.screening.featurize import FILTERS
    from sciarch.screening.scoring import ScorerError

    def fail(msg: str, code: int = 2):
        typer.echo(f"error: {msg}", err=True)
        raise typer.Exit(code)

    filters = tuple(filter_ or ())
    bad = [f for f in filters if f not in FILTERS]
    if bad:
        fail(f"--filter {bad[0]!r}: choose from {', '.join(FILTERS)}")
    if model is None and scorer is None:
        fail("--model RUN_DIR is required (or a custom --scorer)")
    if out is None:
        fail("--out DIR is required")
    try:
        cfg = BeamScreenConfig(
            library=library, model=None if model is None else str(model), targets=[str(t) for t in target], out=out,
            top_n=top, rank_by=rank_by, higher_is_better=not lower_is_better, smiles_column=smiles_column,
            id_column=id_column, delimiter=delimiter, chunk_records=chunk_size, batch_size=batch_size,
            max_atoms=max_atoms, strip_salts=strip_salts, filters=filters, scorer=scorer, runner=runner,
            beam_options=list(beam_option or ()), score_shards=output_shards,
        )
        summary = run_beam_screen(cfg)
    except (LibraryReadError, ScorerError, ValueError) as exc:
        fail(str(exc))
    c = summary["counts"]
    typer.echo(
        f"screened {c['read']:,} records on {summary['runner']}: {c['scored']:,} scored, {c['rejected']:,} rejected "
        f"({summary['molecules_per_s'] or 0:,.0f} molecules/s, {summary['wall_time_s']:.1f} s)"
    )
    typer.echo(f"hits: {out}/hits.csv  scores: {out}/scores/  rejected: {out}/rejected/")
    if summary["status"] != "complete":
        typer.echo("error: " + "; ".join(summary["errors"]), err=True)
        raise typer.Exit(1)


def _typer_app():
    import typer

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    O = typer.Option

    @app.command()
    def screen_beam(
        model: Optional[Path] = O(None, "--model", "-m", help="run directory of a trained affinity model (local or gs://...)"),
        library: list[str] = O(..., "--library", "-l", help="library file or glob of shards (.smi/.csv/.sdf[.gz]; repeatable)"),
        target: list[Path] = O(..., "--target", "-t", help="protein FASTA file (repeatable; every record is a target)"),
        top: int = O(100, "--top", "-n", min=1, help="number of hits in hits.csv"),
        out: Optional[str] = O(None, "--out", "-o", help="output directory (local or a Beam filesystem URI)"),
        smiles_column: Optional[str] = O(None, "--smiles-column", help="CSV: column holding the SMILES"),
        id_column: Optional[str] = O(None, "--id-column", help="CSV: id column; SDF: data field with the id"),
        delimiter: Optional[str] = O(None, "--delimiter", help="CSV field separator"),
        rank_by: str = O("mean", "--rank-by", help="'mean', 'max', 'min' over targets, or a target name"),
        lower_is_better: bool = O(False, "--lower-is-better", help="rank the lowest scores first"),
        max_atoms: int = O(150, "--max-atoms", min=1, help="reject molecules with more atoms"),
        strip_salts: bool = O(False, "--strip-salts", help="keep the largest fragment"),
        filter_: Optional[list[str]] = O(None, "--filter", help="pains, brenk, nih, zinc or lipinski (repeatable)"),
        batch_size: int = O(1024, "--batch-size", min=1, help="molecules per inference batch"),
        chunk_size: int = O(4096, "--chunk-size", min=1, help="records per work unit"),
        scorer: Optional[str] = O(None, "--scorer", help="custom scorer 'package.module:factory' (as in sciarch screen)"),
        runner: str = O("DirectRunner", "--runner", help="Beam runner: DirectRunner, DataflowRunner, FlinkRunner, SparkRunner ..."),
        beam_option: Optional[list[str]] = O(None, "--beam-option", help="a Beam pipeline option, e.g. --beam-option=--project=P (repeatable)"),
        output_shards: int = O(0, "--output-shards", min=0, help="scores/rejected files (0: the runner decides)"),
    ) -> None:
        main(model, library, target, top, out, smiles_column, id_column, delimiter, rank_by, lower_is_better,
             max_atoms, strip_salts, filter_, batch_size, chunk_size, scorer, runner, beam_option, output_shards)

    screen_beam.__doc__ = main.__doc__
    return app


if __name__ == "__main__":  # pragma: no cover
    _typer_app()()
