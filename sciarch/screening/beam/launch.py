"""Launch the Beam screen: launcher-side checks, the pipeline graph, the run and ``summary.json``."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from sciarch.screening.beam.handler import ScreenModelHandler
from sciarch.screening.beam.transforms import (
    LINE_MASK,
    METRICS_NAMESPACE,
    SHARD_SHIFT,
    Featurize,
    FindDuplicates,
    ReadChunks,
    ToRows,
    TopNCombineFn,
    dedup_entries,
    drop_duplicates,
    is_remote,
    scores_schema,
)
from sciarch.screening.checkpoint import settings_difference
from sciarch.screening.options import ScreenError, ScreenOptions
from sciarch.screening.outputs import REJECTED_HEADER, hits_csv_text
from sciarch.screening.ranking import Hit
from sciarch.screening.readers import LibraryReadError, LibrarySpec, detect_format
from sciarch.screening.scoring import ScorerError, file_sha256, load_targets, make_scorer, with_scorer_features

__all__ = ["BeamJob", "build_pipeline", "expand_library", "prepare", "run_beam_screen"]


@dataclass
class BeamJob:
    """What the Beam screen needs besides the :class:`~sciarch.screening.options.ScreenOptions`.

    Args:
        targets: protein FASTA files (read on the launching machine; the sequences travel with the job).
        model: run directory of the trained model (local or a Beam filesystem URI).
        scorer: optional ``'package.module:factory'`` custom scorer (as ``sciarch screen --scorer``).
        runner: Beam runner name (``DirectRunner``, ``DataflowRunner``, ``FlinkRunner``, ...); a
            ``--runner=...`` in ``beam_options`` wins.
        beam_options: extra Beam pipeline options (``["--project=p", "--region=r", ...]``).
        score_shards: number of scores/rejected output files (0 = let the runner decide).
    """

    targets: Sequence[str]
    model: Optional[str] = None
    scorer: Optional[str] = None
    runner: str = "DirectRunner"
    beam_options: Sequence[str] = field(default_factory=tuple)
    score_shards: int = 0


def expand_library(patterns: Sequence[str]) -> list[str]:
    """Sorted, de-duplicated shard paths of file names / globs (any Beam filesystem)."""
    paths: list[str] = []
    for pat in patterns:
        pat = str(pat)
        if not is_remote(pat) and not any(c in pat for c in "*?["):
            if not Path(pat).is_file():
                raise LibraryReadError(f"{pat}: library file not found")
            paths.append(pat)
            continue
        found = [m.path for r in FileSystems.match([pat]) for m in r.metadata_list]
        if not found:
            raise LibraryReadError(f"{pat}: no library file matches this pattern")
        paths.extend(found)
    return sorted(dict.fromkeys(paths))


def prepare(opts: ScreenOptions, job: BeamJob) -> dict:
    """Launcher-side checks and everything the pipeline needs (fails early with clear messages).

    The scorer is built once here (a custom scorer names its own targets; a local run's
    scorer says which targets it truncates); a run on a Beam filesystem is only loaded by
    the workers.

    Raises:
        ScreenError: ``top_n`` < 1, neither a model nor a custom scorer, a ``rank_by`` that
            names no target.
        LibraryReadError / ScorerError: a missing library, bad targets, no ``model.keras``.
    """
    if opts.top_n < 1:
        raise ScreenError("top N must be >= 1")
    if job.model is None and job.scorer is None:
        raise ScreenError("--model RUN_DIR is required (or a custom --scorer)")
    shards = expand_library(opts.libraries)
    names = [os.path.basename(p.rstrip("/")) for p in shards]
    if len(set(names)) != len(names):
        names = shards  # equal base names in different folders: use full paths
    targets = load_targets(job.targets)  # ScorerError names the file
    target_names = [n for n, _ in targets]  # what a run's scorer names them
    truncated = None  # unknown until a worker loads a remote run
    if job.model is not None and not is_remote(job.model) and job.scorer is None:
        if not (Path(job.model) / "model.keras").is_file():
            raise ScorerError(f"{Path(job.model) / 'model.keras'}: no trained model in this run directory")
    if job.scorer is not None or not is_remote(job.model):
        model = None if job.model is None else Path(job.model)
        scorer = make_scorer(model, [Path(t) for t in job.targets], job.scorer)
        target_names = list(scorer.target_names)
        truncated = list(getattr(scorer, "truncated_targets", None) or [])
    else:
        scorer = None  # a remote run is loaded by the workers only: its graph features are v1 or refused there
    rank_by = opts.resolve_rank_by(target_names)
    options = {}
    for i, p in enumerate(shards):
        if is_remote(p):  # layout from the file name; CSV columns are resolved on the worker
            kind, _ = detect_format(p)
            if kind == "csv":
                raise LibraryReadError(f"{p}: remote CSV shards are not supported yet (use .smi / .sdf shards)")
            spec = LibrarySpec(p, kind)
        else:
            spec = opts.library_spec(p)
        options[i] = with_scorer_features(opts.featurize_options(spec), scorer)
    return {
        "shards": shards,
        "shard_names": names,
        "target_names": target_names,
        "score_columns": [f"score_{n}" for n in target_names],
        "rank_by": rank_by,
        "truncated_targets": truncated,
        "options": options,
        "fasta_texts": [(t, Path(t).read_text()) for t in job.targets],
    }


def hits_text(hits: list[Hit], shard_names: list[str], score_columns: list[str]) -> str:
    """hits.csv: the local format (``hits_csv_text``); with several shards a ``shard`` column after ``line``."""
    local = [Hit(h.key, h.line & LINE_MASK, h.id, h.smiles, h.scores) for h in hits]
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
    with FileSystems.create(path) as fh:
        fh.write(text.encode())


def build_pipeline(p, opts: ScreenOptions, job: BeamJob, prep: dict) -> None:
    """Add the screen's transforms to pipeline ``p`` (see :mod:`sciarch.screening.beam`)."""
    out = opts.out
    multi = len(prep["shards"]) > 1
    shard_names = prep["shard_names"]

    read = (
        p
        | "Shards" >> beam.Create(list(enumerate(prep["shards"])))
        | "ReadChunks" >> beam.ParDo(ReadChunks(opts)).with_outputs("errors", main="chunks")
    )
    feats = (
        read.chunks
        | "Spread" >> beam.Reshuffle()
        | "Featurize" >> beam.ParDo(Featurize(prep["options"])).with_outputs("rejects", main="mols")
    )
    handler = KeyedModelHandler(
        ScreenModelHandler(job.model, prep["fasta_texts"], job.scorer, target_names=prep["target_names"])
    )
    scored = feats.mols | "Score" >> RunInference(handler)
    rejects = feats.rejects
    if opts.dedup:  # the first occurrence of a canonical SMILES in (shard, line) order is kept
        dups = (
            feats.mols
            | "DedupKeys" >> beam.FlatMap(dedup_entries)
            | "GroupByMolecule" >> beam.GroupByKey()
            | "FindDuplicates" >> beam.ParDo(FindDuplicates(shard_names)).with_outputs("rejects", main="lines")
        )
        scored = (
            {"scored": scored, "duplicates": dups.lines}
            | "JoinDuplicates" >> beam.CoGroupByKey()
            | "DropDuplicates" >> beam.FlatMap(drop_duplicates)
        )
        rejects = (rejects, dups.rejects) | "AllRejects" >> beam.Flatten()
    rows = scored | "ToRows" >> beam.ParDo(ToRows(shard_names, prep["score_columns"])).with_outputs("rank", main="tables")
    rows.tables | "WriteScores" >> beam.io.WriteToParquetBatched(
        FileSystems.join(out, "scores", "scores"),
        schema=scores_schema(prep["score_columns"]),
        codec="zstd",
        file_name_suffix=".parquet",
        num_shards=job.score_shards,
    )
    header = REJECTED_HEADER.rstrip("\n")

    def reject_line(item):
        shard, r = item
        line = r.tsv_line().rstrip("\n")
        return f"{shard_names[shard]}\t{line}" if multi else line

    (
        rejects
        | "RejectLines" >> beam.Map(reject_line)
        | "WriteRejected" >> beam.io.WriteToText(
            FileSystems.join(out, "rejected", "rejected"),
            file_name_suffix=".tsv",
            header=("shard\t" + header) if multi else header,
            num_shards=job.score_shards,
        )
    )
    (
        read.errors
        | "ErrorLines" >> beam.MapTuple(lambda path, unread, msg: f"{path}\t{'' if unread is None else unread}\t{msg}")
        | "WriteErrors" >> beam.io.WriteToText(
            FileSystems.join(out, "read_errors", "errors"), file_name_suffix=".tsv",
            header="shard\tunread_from_line\terror",
        )
    )
    cols = prep["score_columns"]
    (
        rows.rank
        | "TopN" >> beam.CombineGlobally(TopNCombineFn(opts.top_n, prep["rank_by"], opts.higher_is_better))
        | "WriteHits" >> beam.Map(lambda hits: _write_text(FileSystems.join(out, "hits.csv"), hits_text(hits, shard_names, cols)))
    )


def _counters(result) -> dict:
    from apache_beam.metrics.metric import MetricsFilter

    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))["counters"]:
        v = c.committed if c.committed is not None else c.attempted
        out[c.key.metric.name] = out.get(c.key.metric.name, 0) + int(v or 0)
    return out


def _read_errors(out: str) -> list[tuple[str, int | None, str]]:
    """``(shard path, unread_from_line or None, message)`` of every shard that could not be read to its end."""
    errs = []
    for r in FileSystems.match([FileSystems.join(out, "read_errors", "errors*")]):
        for m in r.metadata_list:
            with FileSystems.open(m.path, compression_type="uncompressed") as fh:
                for ln in fh.read().decode().splitlines()[1:]:
                    if ln.strip():
                        path, unread, msg = ln.split("\t", 2)
                        errs.append((path, int(unread) if unread else None, msg))
    return sorted(errs, key=lambda e: e[0])


def _model_identity(job: BeamJob) -> dict:
    model_sha = None
    if job.model is not None and not is_remote(job.model) and (Path(job.model) / "model.keras").is_file():
        model_sha = file_sha256(Path(job.model) / "model.keras")
    return {"run_dir": job.model, "sha256": model_sha, "scorer": job.scorer}


def _unread_from_line(prep: dict, errors) -> int | dict | None:
    """Like the local screen's: the first line not read; with several shards ``{shard name: line}``."""
    lines = {prep["shard_names"][prep["shards"].index(p)]: u for p, u, _ in errors if u is not None and p in prep["shards"]}
    if not lines:
        return None
    return next(iter(lines.values())) if len(prep["shards"]) == 1 else lines


def _summary(opts: ScreenOptions, job: BeamJob, prep: dict, runner_name: str, counts: dict, errors,
             wall: float) -> dict:
    reasons = {k[len("rejected_"):]: v for k, v in sorted(counts.items()) if k.startswith("rejected_")}
    read = counts.get("read", 0)
    return {
        "status": "complete" if not errors else "incomplete",
        "errors": [f"{p}\t{msg}" for p, _, msg in errors],
        "unread_from_line": _unread_from_line(prep, errors),
        "truncated_targets": prep["truncated_targets"],
        "runner": runner_name,
        "beam_options": list(job.beam_options),
        "library": {"shards": prep["shards"]},
        "model": _model_identity(job),
        "targets": prep["target_names"],
        "counts": {
            "read": read,
            "scored": counts.get("scored", 0),
            "rejected": counts.get("rejected", 0),
            "rejected_by_reason": reasons,
            "chunks": counts.get("chunks", 0),
        },
        "top_n": opts.top_n,
        "rank_by": opts.rank_by,
        "higher_is_better": opts.higher_is_better,
        "settings": opts.fingerprint(),
        "wall_time_s": round(wall, 3),
        "molecules_per_s": round(read / wall, 1) if wall > 0 else None,
        "outputs": {
            "hits": "hits.csv",
            "scores": "scores/scores-*.parquet",
            "rejected": "rejected/rejected-*.tsv",
            "read_errors": "read_errors/errors-*.tsv",
        },
    }


def _finished(opts: ScreenOptions, job: BeamJob, prep: dict) -> dict | None:
    """The summary of a finished Beam screen in ``opts.out`` made with the same settings, model and
    targets; None when there is none (or it did not finish). Other settings are refused."""
    path = FileSystems.join(opts.out, "summary.json")
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as fh:
        old = json.loads(fh.read().decode())
    if old.get("status") != "complete":
        return None
    detail = settings_difference(old.get("settings") or {}, opts.fingerprint())
    if not detail and old.get("targets") != prep["target_names"]:
        detail = f"--target {', '.join(old.get('targets') or [])} -> {', '.join(prep['target_names'])}"
    if not detail and old.get("library", {}).get("shards") != prep["shards"]:
        detail = f"--library {', '.join(old['library']['shards'])} -> {', '.join(prep['shards'])}"
    new_model = _model_identity(job)
    if not detail and old.get("model") != new_model:
        detail = f"--model/--scorer {old.get('model')} -> {new_model}"
    if detail:
        raise ScreenError(
            f"{path}: the finished screen was made with different settings ({detail}); "
            "resume with the same options or use another --out"
        )
    return old


def _remove_outputs(out: str) -> None:
    for sub in ("scores", "rejected", "read_errors"):
        found = [m.path for r in FileSystems.match([FileSystems.join(out, sub, "*")]) for m in r.metadata_list]
        if found:
            FileSystems.delete(found)
    if FileSystems.exists(FileSystems.join(out, "summary.json")):
        FileSystems.delete([FileSystems.join(out, "summary.json")])


def run_beam_screen(opts: ScreenOptions, job: BeamJob) -> dict:
    """Build and run the Beam screen; wait for it; write and return ``summary.json``.

    ``opts.resume``: a finished screen in ``opts.out`` with the same settings, library, model
    and targets is returned as it is (other settings are refused); an unfinished one (failed
    job, unreadable shard) runs again from the start, its old outputs removed. Failed bundles
    inside a job are retried by the Beam runner itself.

    Raises:
        ScreenError / LibraryReadError / ScorerError: bad options, library, targets or model
        (checked on the launching machine before the job starts).
    """
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

    t0 = time.perf_counter()
    prep = prepare(opts, job)
    if opts.resume:
        done = _finished(opts, job, prep)
        if done is not None:
            return done
        _remove_outputs(opts.out)  # an unfinished job runs again from the start
    beam_opts = PipelineOptions([f"--runner={job.runner}", *job.beam_options])  # a --runner in beam_options wins
    runner_name = beam_opts.view_as(StandardOptions).runner or job.runner
    p = beam.Pipeline(options=beam_opts)
    build_pipeline(p, opts, job, prep)
    result = p.run()
    result.wait_until_finish()
    wall = time.perf_counter() - t0
    summary = _summary(opts, job, prep, runner_name, _counters(result), _read_errors(opts.out), wall)
    _write_text(FileSystems.join(opts.out, "summary.json"), json.dumps(summary, indent=2) + "\n")
    return summary
