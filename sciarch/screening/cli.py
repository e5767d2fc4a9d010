"""``sciarch screen``: rank a molecule library against protein targets with a trained affinity model.

Mounted by :mod:`sciarch.cli` as ``app.command("screen")(screen)``. Importing this module
is cheap (TensorFlow is imported only when the model is loaded, after the featurisation
workers have started). The flags become one :class:`~sciarch.screening.options.ScreenOptions`,
which the local engine and, with ``--runner beam``, the Beam screen
(:mod:`sciarch.screening.beam`) both take. ``--model RUN`` imports only the pipeline named in
``RUN/config.yaml`` and scores with its ``screen_scorer`` hook.

Exit status: 0 done; 1 the library could not be read to the end (a truncated or corrupt
gzip stream: every line that decoded is scored or rejected and all outputs are written,
``rejected.tsv`` ends with an ``unreadable`` row at the first line that could not be read,
``summary.json`` says ``"status": "incomplete"`` and ``"unread_from_line"``; the error is
one line on stderr); 2 bad arguments / files (one line on stderr, e.g. a UTF-16 library,
an invalid or nucleotide target FASTA, or ``--resume`` with options that differ from the
screen in ``--out``: the line names the option); 130 interrupted (a checkpoint was written;
``--resume`` continues). A target longer than the model's protein length is cut to it with
a one-line warning on stderr and listed in ``summary.json`` ``"truncated_targets"``.

Example:
    sciarch screen --model runs/davis --library data/drugscreen/zinc250k_jtvae_valid.smi.gz \\
        --target egfr.fasta --top 100 --out screens/egfr
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

__all__ = ["screen", "app"]


def _fail(msg: str, code: int = 2):
    typer.echo(f"error: {msg}", err=True)
    raise typer.Exit(code)


def screen(
    model: Optional[str] = typer.Option(None, "--model", "-m", metavar="<path>", help="run directory of a trained affinity model (model.keras + config.yaml)"),
    library: str = typer.Option(..., "--library", "-l", metavar="<path>", help="molecule library: .smi, .csv, .tsv or .sdf, optionally .gz"),
    target: list[Path] = typer.Option(..., "--target", "-t", help="protein FASTA file (repeatable; every record is a target)"),
    top: int = typer.Option(100, "--top", "-n", min=1, help="number of hits in hits.csv"),
    out: Optional[str] = typer.Option(None, "--out", "-o", metavar="<path>", help="output directory (default screen_LIBRARY, after the library file name)"),
    resume: bool = typer.Option(False, "--resume", help="continue an interrupted screen in --out"),
    overwrite: bool = typer.Option(False, "--overwrite", help="discard an earlier screen in --out"),
    workers: Optional[int] = typer.Option(None, "--workers", "-w", min=0, help="featurisation processes (default: all cores; 0 = in-process)"),
    smiles_column: Optional[str] = typer.Option(None, "--smiles-column", help="CSV: column holding the SMILES (default: found by name)"),
    id_column: Optional[str] = typer.Option(None, "--id-column", help="CSV: id column; SDF: data field with the id (default: title line)"),
    delimiter: Optional[str] = typer.Option(None, "--delimiter", help="CSV field separator (default ',' or tab for .tsv)"),
    rank_by: str = typer.Option("mean", "--rank-by", help="'mean', 'max', 'min' over targets, or a target name"),
    lower_is_better: bool = typer.Option(False, "--lower-is-better", help="rank the lowest scores first"),
    max_atoms: int = typer.Option(150, "--max-atoms", min=1, help="reject molecules with more atoms"),
    strip_salts: bool = typer.Option(False, "--strip-salts", help="keep the largest fragment (removes counter-ions)"),
    dedup: bool = typer.Option(False, "--dedup", help="score each canonical SMILES once; later copies are listed as duplicates"),
    filter_: Optional[list[str]] = typer.Option(
        None, "--filter", help="reject matches of a filter: pains, brenk, nih, zinc (RDKit FilterCatalog) or lipinski (repeatable)"
    ),
    batch_size: int = typer.Option(1024, "--batch-size", min=1, help="molecules per inference batch"),
    chunk_size: int = typer.Option(4096, "--chunk-size", min=1, help="records per work unit / checkpoint granule"),
    checkpoint_every: float = typer.Option(30.0, "--checkpoint-every", min=0.0, help="seconds between checkpoints"),
    progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="progress bar (default: when stderr is a terminal)"),
    scorer: Optional[str] = typer.Option(
        None,
        "--scorer",
        help="custom scorer 'package.module:factory'; factory(model_dir_or_None, [target FASTA paths]) returns an "
        "object with target_names, fingerprint and score(batch) -> [B, T] (instead of the affinity model)",
    ),
    runner: str = typer.Option(
        "local", "--runner", help="'local' (this machine) or 'beam' (Apache Beam RunInference; DirectRunner unless a "
        "--beam-option=--runner=... names another)"
    ),
    beam_option: Optional[list[str]] = typer.Option(
        None, "--beam-option", help="Beam pipeline option with --runner beam, e.g. --beam-option=--runner=DataflowRunner (repeatable)"
    ),
    output_shards: int = typer.Option(
        0, "--output-shards", min=0, help="with --runner beam: number of scores/rejected files (0: the runner decides)"
    ),
) -> None:
    """Screen a molecule library against protein targets; write hits.csv, scores.parquet, rejected.tsv, summary.json.

    Each target is encoded once; ligands are featurised on all cores and scored in large
    batches. Every line that cannot be scored is listed in rejected.tsv with its reason.
    Ctrl-C writes a checkpoint; `--resume` continues and gives the same output as an
    uninterrupted run.

    Examples:

    * `sciarch screen --model runs/davis --library data/drugscreen/zinc250k_jtvae_valid.smi.gz --target egfr.fasta --top 50`
    * `sciarch screen -m runs/davis -l lib.csv --smiles-column smiles --id-column name -t a.fasta -t b.fasta --rank-by max --strip-salts --dedup --filter pains`
    * `sciarch screen -m runs/davis -l 'libs/part-*.smi.gz' -t egfr.fasta -o screens/egfr --runner beam`
    """
    from sciarch.screening.options import ScreenError, ScreenOptions

    if out is None:
        name = Path(library).name
        for suf in (".gz", ".smi", ".smiles", ".csv", ".tsv", ".sdf", ".txt"):
            if name.lower().endswith(suf):
                name = name[: -len(suf)]
        out = f"screen_{name}"
    try:
        opts = ScreenOptions(
            library=_path_arg(library),
            out=_path_arg(out),
            top_n=top,
            rank_by=rank_by,
            higher_is_better=not lower_is_better,
            smiles_column=smiles_column,
            id_column=id_column,
            delimiter=delimiter,
            workers=workers,
            chunk_records=chunk_size,
            batch_size=batch_size,
            max_atoms=max_atoms,
            strip_salts=strip_salts,
            dedup=dedup,
            filters=tuple(filter_ or ()),
            checkpoint_every_s=checkpoint_every,
            resume=resume,
            overwrite=overwrite,
            progress=sys.stderr.isatty() if progress is None else progress,
            target_files=_target_files(target),
        )
    except ScreenError as exc:
        _fail(str(exc))
    if runner not in ("local", "beam"):
        _fail(f"--runner {runner!r}: choose 'local' or 'beam'")
    if runner == "beam":
        return _screen_beam(opts, model, target, scorer, beam_option, output_shards)
    if beam_option:
        _fail("--beam-option needs --runner beam")
    if output_shards:
        _fail("--output-shards needs --runner beam")
    _screen_local(opts, None if model is None else Path(model), target, scorer)


def _path_arg(path: str) -> str:
    """A path argument as the screen uses it: a Beam filesystem URI (``gs://...``) as given, a local path normalised."""
    return path if "://" in path else str(Path(path))


def _screen_local(opts, model: Optional[Path], target: list[Path], scorer: Optional[str]) -> None:
    from sciarch.config import ConfigError
    from sciarch.screening.engine import ScreenError, ScreenIncomplete, ScreenInterrupted, run_screen
    from sciarch.screening.readers import LibraryReadError
    from sciarch.screening.scoring import ScorerError, make_scorer, model_fingerprint_bits, model_graph_features

    if model is None and scorer is None:
        _fail("--model RUN_DIR is required (or a custom --scorer)")
    out = opts.out
    try:
        hint = None if scorer is not None else model_graph_features(model)
        bits = 0 if scorer is not None else model_fingerprint_bits(model)
        summary = run_screen(opts, lambda: make_scorer(model, target, scorer), graph_features_hint=hint,
                             fingerprint_bits_hint=bits)
    except ScreenInterrupted as exc:
        typer.echo(f"interrupted: {exc}", err=True)
        raise typer.Exit(130)
    except ScreenIncomplete as exc:
        c = exc.summary["counts"]
        unread = exc.summary.get("unread_from_line")
        where = f"; rejected.tsv line {unread}: unreadable from there on" if unread else ""
        typer.echo(
            f"error: {exc}; kept: {c['scored']:,} scored, {c['rejected']:,} rejected, outputs in {out} "
            f"(summary.json status \"incomplete\"{where})",
            err=True,
        )
        raise typer.Exit(1)
    except (ScreenError, LibraryReadError, ScorerError, ConfigError) as exc:
        _fail(str(exc))
    c = summary["counts"]
    typer.echo(
        f"screened {c['read']:,} records: {c['scored']:,} scored, {c['rejected']:,} rejected "
        f"({summary.get('molecules_per_s') or 0:,.0f} molecules/s, {summary['wall_time_s']:.1f} s)"
    )
    typer.echo(f"hits: {Path(out) / 'hits.csv'}  scores: {Path(out) / 'scores.parquet'}  rejected: {Path(out) / 'rejected.tsv'}")


def _screen_beam(opts, model: Optional[str], target: list[Path], scorer: Optional[str],
                 beam_option: Optional[list[str]], output_shards: int) -> None:
    from sciarch.screening.options import ScreenError
    from sciarch.screening.readers import LibraryReadError
    from sciarch.screening.scoring import ScorerError

    try:
        from sciarch.screening.beam import BeamJob, run_beam_screen
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("apache_beam"):
            raise
        _fail('--runner beam needs apache-beam (pip install "sciarch[beam]")')
    job = BeamJob(targets=[str(t) for t in target], model=None if model is None else _path_arg(model), scorer=scorer,
                  beam_options=list(beam_option or ()), score_shards=output_shards)
    try:
        summary = run_beam_screen(opts, job)
    except (ScreenError, LibraryReadError, ScorerError, ValueError) as exc:
        _fail(str(exc))
    out = opts.out
    c = summary["counts"]
    typer.echo(
        f"screened {c['read']:,} records on {summary['runner']}: {c['scored']:,} scored, {c['rejected']:,} rejected "
        f"({summary['molecules_per_s'] or 0:,.0f} molecules/s, {summary['wall_time_s']:.1f} s)"
    )
    typer.echo(f"hits: {out}/hits.csv  scores: {out}/scores/  rejected: {out}/rejected/")
    if summary["status"] != "complete":
        typer.echo("error: " + "; ".join(summary["errors"]), err=True)
        raise typer.Exit(1)


def _target_files(targets: list[Path]) -> tuple[str, ...]:
    """``"<name>:<sha256[:12]>"`` per target file (missing files are reported by the scorer)."""
    from sciarch.screening.scoring import file_sha256

    return tuple(f"{Path(t).name}:{file_sha256(t)[:12] if Path(t).is_file() else 'missing'}" for t in targets)


#: stand-alone app (``python -m sciarch.screening.cli ...``), used by tests and benchmarks
app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _group() -> None:
    """sciarch screening commands."""


app.command("screen")(screen)


if __name__ == "__main__":  # pragma: no cover
    app()
