"""Davis protein construct names: the mutation grammar and the wild-type / family keys.

DeepDTA's Davis copy names a mutant construct after its wild type plus the mutation
(``"ABL1(E255K)"``, ``"EGFR(L858R,T790M)"``, ``"ABL1(T315I)p"`` for a phosphorylated form)
but stores the *wild-type* sequence for it. This module parses those names
(:func:`mutation_parent`, :func:`protein_family`), applies a mutation code to a sequence
(:func:`apply_mutation`) and resolves every mutant of a data set
(:func:`mutant_sequences`), finding each construct's numbering shift
(:func:`numbering_offset`). Pure Python: no NumPy, no TensorFlow.

Example:
    >>> from pipelines.drugscreen.mutations import apply_mutation, mutation_parent
    >>> mutation_parent("ABL1(E255K)")
    'ABL1'
    >>> apply_mutation("MKELV", "E3K")
    'MKKLV'
"""

from __future__ import annotations

import re

_DEL = re.compile(r"([A-Z])(\d+)([A-Z])(\d+)del")
_SUB = re.compile(r"([A-Z])(\d+)([A-Z])")


class MutationError(ValueError):
    """A mutation code that cannot be applied to its wild-type sequence."""



def mutation_parent(protein_id: str) -> str | None:
    """Wild-type construct name of a Davis mutant, or None for a wild type.

    ``"ABL1(E255K)" -> "ABL1"``, ``"ABL1(T315I)p" -> "ABL1p"`` (phosphorylated form),
    ``"EGFR(L858R,T790M)" -> "EGFR"``; names without a parenthesised mutation -> None.
    """
    m = re.fullmatch(r"(.+?)\(([^()]*)\)(p?)", protein_id)
    if m is None:
        return None
    return m.group(1) + m.group(3)


def protein_family(protein_id: str) -> str:
    """Group key for cold-target splits: mutants and phospho forms with their wild type."""
    parent = mutation_parent(protein_id) or protein_id
    return parent[:-1] if parent.endswith("p") and len(parent) > 1 and parent[-2].isupper() else parent



def apply_mutation(wild_type: str, code: str, offset: int = 0) -> str:
    """Apply a Davis-style mutation code to a wild-type sequence (1-based positions).

    ``offset`` is added to every position named in the code (for constructs numbered
    differently from the literature's reference isoform).

    Substitutions ``"E255K"``, several at once ``"L858RT790M"`` / ``"V559D-T670I"``, and
    deletions ``"E746A750del"`` (residues 746..750 removed). The wild-type letters named
    in the code are checked against the sequence. Codes that do not name residues
    (e.g. ``"ITD"``, internal tandem duplication) raise :class:`MutationError`.

    Example:
        >>> apply_mutation("MKELV", "E3K")
        'MKKLV'
        >>> apply_mutation("MKELVA", "K2L4del")
        'MVA'
    """
    seq = list(wild_type)
    rest = code
    deletions = []
    for m in _DEL.finditer(code):
        a, i, b, j = m.group(1), int(m.group(2)) + offset, m.group(3), int(m.group(4)) + offset
        if not (1 <= i <= j <= len(seq)) or seq[i - 1] != a or seq[j - 1] != b:
            raise MutationError(f"deletion {m.group(0)} does not match the wild-type sequence")
        deletions.append((i, j))
        rest = rest.replace(m.group(0), "")
    subs = _SUB.findall(rest)
    leftover = _SUB.sub("", rest).replace("-", "").replace(",", "").strip()
    if leftover or (not subs and not deletions):
        raise MutationError(f"cannot interpret mutation code {code!r}")
    for a, pos, b in subs:
        i = int(pos) + offset
        if not 1 <= i <= len(seq) or seq[i - 1] != a:
            found = seq[i - 1] if 1 <= i <= len(seq) else "nothing"
            raise MutationError(f"substitution {a}{pos}{b}: wild type has {found} at position {int(pos) + offset}")
        seq[i - 1] = b
    for i, j in sorted(deletions, reverse=True):
        del seq[i - 1 : j]
    return "".join(seq)


def _named_residues(code: str) -> set[tuple[str, int]]:
    named = set()
    for m in _DEL.finditer(code):
        named |= {(m.group(1), int(m.group(2))), (m.group(3), int(m.group(4)))}
    for a, pos, _ in _SUB.findall(_DEL.sub("", code)):
        named.add((a, int(pos)))
    return named


def numbering_offset(wild_type: str, named: set[tuple[str, int]], min_positions: int = 3) -> int | None:
    """Offset between literature numbering and the construct: 0 if every named wild-type
    residue matches as is; otherwise the *unique* offset under which all of them match,
    accepted only when at least ``min_positions`` distinct positions pin it down."""
    n = len(wild_type)

    def ok(o):
        return all(0 <= i - 1 + o < n and wild_type[i - 1 + o] == a for a, i in named)

    if ok(0):
        return 0
    if len({i for _, i in named}) < min_positions:
        return None
    hits = [o for o in range(-n, n) if ok(o)]
    return hits[0] if len(hits) == 1 else None


def mutant_sequences(protein_ids: list[str], sequences: list[str]) -> tuple[dict[int, tuple[int, str]], list[str]]:
    """For each mutant construct whose name encodes its mutation (``"ABL1(E255K)"``),
    ``{mutant record index: (wild-type record index, mutated sequence)}`` plus notes on
    the mutants that could not be resolved (no wild type, uninterpretable code, mismatch).

    DeepDTA's Davis copy stores the *wild-type* sequence for every mutant construct, so
    the mutation has to be applied from the name for a sequence model to see it. Some
    constructs are numbered differently from the literature (e.g. ABL1 here is shifted by
    +37 relative to isoform 1a numbering); the shift is found per wild type from all of its
    mutants together (:func:`numbering_offset`).
    """
    index = {p: i for i, p in enumerate(protein_ids)}
    codes: dict[int, tuple[int, str]] = {}
    for i, pid in enumerate(protein_ids):
        parent = mutation_parent(pid)
        if parent is None or parent not in index:
            continue
        codes[i] = (index[parent], re.fullmatch(r".+?\(([^()]*)\)p?", pid).group(1))
    # one numbering offset per wild-type sequence, from all mutants of it together
    named_by_seq: dict[str, set] = {}
    for w, code in codes.values():
        named_by_seq.setdefault(sequences[w], set()).update(_named_residues(code))
    offsets = {seq: numbering_offset(seq, named) for seq, named in named_by_seq.items()}
    out: dict[int, tuple[int, str]] = {}
    notes: list[str] = []
    for i, (w, code) in codes.items():
        off = offsets[sequences[w]]
        if off is None:
            notes.append(
                f"{protein_ids[i]}: mutation {code!r} does not match the wild-type sequence "
                f"'{protein_ids[w]}' under any unambiguous numbering; pair left out"
            )
            continue
        try:
            out[i] = (w, apply_mutation(sequences[w], code, offset=off))
        except MutationError as exc:
            notes.append(f"{protein_ids[i]}: {exc}; pair left out")
    return out, notes
