"""Extra verbs, mounted as ``sciarch drugscreen ...``.

* ``sciarch drugscreen alascan --model RUN --smiles S --target FASTA [--residues a-b]``
  writes ``alascan_<record>.tsv`` (predicted drop per residue) and ``alascan_<record>.png``
  (profile with the top hotspots marked).
* ``sciarch drugscreen ddg --model RUN`` trains the Siamese ΔpKd model on Davis mutant /
  wild-type pairs (encoders initialised from the run) and compares it with subtracting two
  absolute predictions; writes ``<RUN>/ddg.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(no_args_is_help=True, help="drug-target affinity: alanine scanning and ΔΔG")


def _load_run(run_dir: Path):
    from sciarch.runs import open_run

    opened = open_run(run_dir, pipeline="drugscreen")
    return opened.config, opened.load_model()


@app.command("alascan")
def alascan_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="run directory of a trained drugscreen model"),
    smiles: str = typer.Option(..., "--smiles", "-s", help="ligand SMILES"),
    target: Path = typer.Option(..., "--target", "-t", help="protein FASTA file"),
    record: Optional[str] = typer.Option(None, "--record", help="record id in the FASTA (default: the first)"),
    residues: Optional[str] = typer.Option(None, "--residues", "-r", help="1-based inclusive range a-b"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: the run directory)"),
    top: int = typer.Option(10, "--top", help="hotspots marked in the plot and printed"),
) -> None:
    """In-silico alanine scan: predicted affinity drop for every residue mutated to alanine."""
    from sciarch.config import ConfigError
    from sciarch.io.fasta import FastaError
    from sciarch.io.molecules import FeaturizationError
    from sciarch.io.sequences import read_protein_fasta

    from pipelines.drugscreen.alascan import alanine_scan, parse_residue_range, plot_profile, write_tsv

    try:
        rng = parse_residue_range(residues)
        seqs = read_protein_fasta(target)
    except (ValueError, FastaError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from None
    if record is None:
        record = next(iter(seqs))
    elif record not in seqs:
        raise ConfigError(f"{target}: no record '{record}' (records: {', '.join(list(seqs)[:10])}...)")
    cfg, net = _load_run(model)
    try:
        result = alanine_scan(net, smiles, seqs[record], residues=rng, max_length=cfg.data.max_protein_length)
    except FeaturizationError as exc:
        raise ConfigError(f"--smiles: {exc}") from None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    folder = out or model
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in record)
    tsv = write_tsv(result, folder / f"alascan_{safe}.tsv")
    png = plot_profile(result, folder / f"alascan_{safe}.png", title=f"alanine scan of {record}", top=top)
    typer.echo(f"wild-type prediction: {result.wild_type_prediction:.3f} ({len(result.positions)} residues scanned)")
    if result.skipped_beyond_max_length:
        typer.echo(
            f"note: {result.skipped_beyond_max_length} residue(s) lie beyond max_protein_length="
            f"{cfg.data.max_protein_length} and are not seen by the model"
        )
    for i in result.top(top):
        typer.echo(f"  {result.residues[i]}{result.positions[i]}A  drop {result.drops[i]:+.4f}")
    typer.echo(f"written: {tsv}\nwritten: {png}")


@app.command("ddg")
def ddg_cmd(
    model: Path = typer.Option(..., "--model", "-m", help="run directory of a trained Davis model"),
    epochs: int = typer.Option(10, "--epochs"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSON path (default RUN/ddg.json)"),
) -> None:
    """Siamese ΔpKd (mutant vs wild type) vs subtraction of two absolute predictions."""
    from sciarch.config import ConfigError

    from pipelines.drugscreen.pipeline import DrugScreenPipeline
    from pipelines.drugscreen.siamese import run_ddg_experiment

    cfg, net = _load_run(model)
    pipeline = DrugScreenPipeline(cfg, None)
    if not pipeline.data.mutants:
        raise ConfigError(f"{model}: data set '{pipeline.data.name}' has no mutant/wild-type constructs (use Davis)")
    result = run_ddg_experiment(
        pipeline.data, net, cfg.model, pipeline.split_index("train"), pipeline.split_index("validation"),
        epochs=epochs, seed=cfg.seed, verbose=2,
    )
    dest = out or model / "ddg.json"
    dest.write_text(json.dumps(result, indent=2, default=float))
    typer.echo(json.dumps(result, indent=2, default=float))
    typer.echo(f"written: {dest}")
