"""What a screen does, the same for the local screen and the Beam screen: :class:`ScreenOptions`.

``sciarch screen`` turns its flags into one :class:`ScreenOptions`; the local engine
(:func:`sciarch.screening.engine.run_screen`) and the Beam launcher
(:func:`sciarch.screening.beam.run_beam_screen`) both take it. The mapping from a library's
layout to the featuriser's options (:meth:`ScreenOptions.featurize_options`) and the
``--rank-by`` check (:meth:`ScreenOptions.resolve_rank_by`) live here only.

Example:
    >>> from sciarch.screening.options import ScreenOptions
    >>> opts = ScreenOptions(library="lib.smi", out="screen_lib", top_n=50, rank_by="max")
    >>> opts.resolve_rank_by(["EGFR", "ABL1"])
    'max'
    >>> opts.option_name("top_n")
    '--top'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Sequence

from sciarch.screening.featurize import FILTERS, FeaturizeOptions
from sciarch.screening.readers import LibrarySpec

__all__ = ["RANK_BY_REDUCTIONS", "ScreenError", "ScreenOptions"]

#: ``--rank-by`` values that reduce over the targets (anything else names one target)
RANK_BY_REDUCTIONS = ("mean", "max", "min")


class ScreenError(RuntimeError):
    """The screen cannot start or continue (bad options, output directory, mismatched checkpoint ...)."""


def _flag(option: str | None = None, *, result: bool = False):
    """Field metadata: the ``sciarch screen`` option that sets it; ``result``: it changes the results
    (a resume must use the same value)."""
    return {"option": option, "result": result}


@dataclass
class ScreenOptions:
    """Everything a screen needs besides the scorer (one field per ``sciarch screen`` option).

    Args:
        library: the library file (.smi/.csv/.tsv/.sdf, optionally .gz); the Beam screen also
            takes a glob or a list of files/globs (shards, local or any Beam filesystem).
        out: output directory.
        top_n: size of ``hits.csv``.
        rank_by: ``"mean"``/``"max"``/``"min"`` over targets or a target name.
        higher_is_better: ``False`` ranks the lowest scores first.
        smiles_column / id_column / delimiter: CSV layout (``id_column`` = SD data field for SDF).
        chunk_records: records per chunk (the unit of parallel work and of checkpoints).
        batch_size: molecules per padded inference batch.
        max_atoms: molecules with more atoms are rejected ("too_large").
        strip_salts / dedup / filters: optional filters (see :mod:`sciarch.screening.featurize`);
            ``dedup`` keeps the first line of each canonical SMILES (Beam: first in (shard, line) order).
        target_files: ``"<file name>:<sha256 prefix>"`` of each target FASTA (set by the CLI), so a
            resume with other target files is refused even when a custom scorer names targets alike.
        workers: featurisation processes (0 = featurise in the main process); local only.
        checkpoint_every_s: seconds between checkpoints; local only.
        part_rows: scored rows buffered before a Parquet part is written; local only.
        resume: continue from ``out/checkpoint.json``; Beam: return a finished screen with the same
            settings, run an unfinished one again.
        overwrite: discard an existing screen in ``out``; local only.
        progress: show a progress bar (stderr); local only.

    Raises:
        ScreenError: a ``filters`` entry that is not a known filter.
    """

    library: str | Sequence[str]
    out: str
    top_n: int = field(default=100, metadata=_flag("--top", result=True))
    rank_by: str = field(default="mean", metadata=_flag("--rank-by", result=True))
    higher_is_better: bool = field(default=True, metadata=_flag("--lower-is-better (higher_is_better)", result=True))
    smiles_column: str | None = field(default=None, metadata=_flag("--smiles-column", result=True))
    id_column: str | None = field(default=None, metadata=_flag("--id-column", result=True))
    delimiter: str | None = field(default=None, metadata=_flag("--delimiter", result=True))
    workers: int | None = field(default=None, metadata=_flag("--workers"))
    chunk_records: int = field(default=4096, metadata=_flag("--chunk-size", result=True))
    batch_size: int = field(default=1024, metadata=_flag("--batch-size", result=True))
    max_atoms: int | None = field(default=150, metadata=_flag("--max-atoms", result=True))
    strip_salts: bool = field(default=False, metadata=_flag("--strip-salts", result=True))
    dedup: bool = field(default=False, metadata=_flag("--dedup", result=True))
    filters: tuple[str, ...] = field(default=(), metadata=_flag("--filter", result=True))
    checkpoint_every_s: float = field(default=30.0, metadata=_flag("--checkpoint-every"))
    part_rows: int = 65536
    resume: bool = field(default=False, metadata=_flag("--resume"))
    overwrite: bool = field(default=False, metadata=_flag("--overwrite"))
    progress: bool = field(default=True, metadata=_flag("--progress"))
    target_files: tuple[str, ...] = field(default=(), metadata=_flag("--target", result=True))

    def __post_init__(self) -> None:
        self.filters = tuple(self.filters)
        bad = [f for f in self.filters if f not in FILTERS]
        if bad:
            raise ScreenError(f"--filter {bad[0]!r}: choose from {', '.join(FILTERS)}")

    # ------------------------------------------------------------------ library
    @property
    def libraries(self) -> list[str]:
        """``library`` as a list of file names / globs."""
        return [str(self.library)] if isinstance(self.library, str) else [str(p) for p in self.library]

    def library_spec(self, path: str) -> LibrarySpec:
        """The layout of one library file with this screen's CSV settings (raises ``LibraryReadError``)."""
        return LibrarySpec.from_path(path, smiles_column=self.smiles_column, id_column=self.id_column,
                                     delimiter=self.delimiter)

    def featurize_options(self, spec: LibrarySpec, dedup: bool | None = None) -> FeaturizeOptions:
        """The featuriser's options for library file ``spec`` (``dedup`` overrides this screen's)."""
        kind, delimiter, smiles_index, id_index = spec.record_layout()
        return FeaturizeOptions(
            kind=kind,
            delimiter=delimiter,
            smiles_index=smiles_index,
            id_index=id_index,
            id_field=self.id_column if spec.kind == "sdf" else None,
            max_atoms=self.max_atoms,
            strip_salts=self.strip_salts,
            dedup=self.dedup if dedup is None else dedup,
            filters=tuple(self.filters),
            batch_size=self.batch_size,
        )

    # ------------------------------------------------------------------ ranking
    def resolve_rank_by(self, target_names: Sequence[str]) -> str | int:
        """``rank_by`` for :func:`~sciarch.screening.ranking.ranking_key`: a reduction or a target's column."""
        if self.rank_by in RANK_BY_REDUCTIONS:
            return self.rank_by
        if self.rank_by in target_names:
            return list(target_names).index(self.rank_by)
        raise ScreenError(
            f"--rank-by {self.rank_by!r}: not 'mean', 'max', 'min' or a target name ({', '.join(target_names)})"
        )

    # ------------------------------------------------------------------ resume
    def fingerprint(self) -> dict:
        """The settings that change results; a resume must use the same ones."""
        keys = [f.name for f in fields(self) if f.metadata.get("result")]
        if not self.target_files:
            keys.remove("target_files")
        d = asdict(self)
        return {k: (list(d[k]) if isinstance(d[k], tuple) else d[k]) for k in keys}

    @classmethod
    def option_name(cls, key: str) -> str:
        """The ``sciarch screen`` option that sets field ``key`` (``key`` itself when none does)."""
        for f in fields(cls):
            if f.name == key:
                return f.metadata.get("option") or key
        return key
