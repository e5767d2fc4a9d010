"""Property tests: random bytes, truncations and edits thrown at the FASTA readers.

``read_fasta`` / ``read_protein_fasta`` either return every record of the file (one per
header line, sequences unchanged) or raise their documented one-line errors
(:class:`FastaError`, :class:`SequenceError`); never another exception. ``read_smi`` raises
only :class:`FeaturizationError` (one line) and returns one pair per non-blank line.
"""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciarch.io.fasta import FastaError, read_fasta
from sciarch.io.molecules import FeaturizationError, read_smi
from sciarch.io.sequences import SequenceError, read_protein_fasta

SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

dna = st.text(alphabet="ACGTNacgtn", min_size=1, max_size=150)
protein = st.text(alphabet="ACDEFGHIKLMNPQRSTVWYX", min_size=1, max_size=150)
ident = st.text(alphabet="abcdefghijXYZ0123456789_.|-", min_size=1, max_size=12)


def _fasta(records, width):
    out = []
    for rid, seq in records:
        out.append(f">{rid} desc\n")
        out += [seq[i : i + width] + "\n" for i in range(0, len(seq), width)]
    return "".join(out).encode()


edits = st.lists(st.tuples(st.floats(0, 0.999), st.integers(0, 255), st.sampled_from(["set", "insert", "delete"])),
                 max_size=4)


def _apply(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for frac, byte, op in ops:
        if not b:
            break
        k = int(frac * len(b))
        if op == "set":
            b[k] = byte
        elif op == "insert":
            b.insert(k, byte)
        else:
            del b[k]
    return bytes(b)


def _read(fn, path, **kw):
    try:
        return fn(path, **kw), None
    except (FastaError, SequenceError) as exc:
        msg = str(exc)
        assert "\n" not in msg and str(path) in msg, msg
        return None, exc


@SETTINGS
@given(recs=st.lists(st.tuples(ident, dna), min_size=1, max_size=6, unique_by=lambda r: r[0]),
       width=st.integers(5, 80), ops=edits, gz=st.booleans(), cut=st.one_of(st.none(), st.floats(0.0, 0.999)),
       bom=st.sampled_from([b"", b"\xef\xbb\xbf", b"\xff\xfe"]))
def test_read_fasta_fuzz(tmp_path_factory, recs, width, ops, gz, cut, bom):
    clean = _fasta(recs, width)
    data = bom + _apply(clean, ops)
    if gz:
        data = gzip.compress(data, mtime=0)
    if cut is not None:
        data = data[: int(len(data) * cut)]
    path = tmp_path_factory.mktemp("fa") / ("x.fa.gz" if gz else "x.fa")
    path.write_bytes(data)
    got, err = _read(read_fasta, path, alphabet="ACGTN")
    if got is not None:
        # nothing lost: one record per header line
        text = gzip.decompress(data) if gz else data
        assert len(got) == sum(1 for ln in text.split(b"\n") if ln.startswith(b">") or ln.startswith(b"\xef\xbb\xbf>"))
    if not ops and cut is None and bom != b"\xff\xfe":
        assert err is None and [(r.id, r.sequence) for r in got] == recs
    if bom == b"\xff\xfe" and (cut is None or not gz):
        assert err is not None and (len(data) < 2 or "UTF-16" in str(err) or "problem" in str(err))


@SETTINGS
@given(recs=st.lists(st.tuples(ident, st.one_of(protein, dna)), min_size=1, max_size=5, unique_by=lambda r: r[0]),
       ops=edits, junk=st.binary(max_size=40))
def test_read_protein_fasta_fuzz(tmp_path_factory, recs, ops, junk):
    data = _apply(_fasta(recs, 60), ops)
    if junk:
        data = data + junk
    path = tmp_path_factory.mktemp("pfa") / "p.fasta"
    path.write_bytes(data)
    got, err = _read(read_protein_fasta, path)
    if got is not None:
        assert len(got) == sum(1 for ln in data.split(b"\n") if ln.startswith(b">"))


@SETTINGS
@given(lines=st.lists(st.one_of(st.sampled_from(["CCO a", "c1ccccc1 benzene", "CC(=O)O", ""]).map(str.encode),
                                st.binary(max_size=30).map(lambda b: b.replace(b"\n", b""))), max_size=20),
       gz=st.booleans(), cut=st.one_of(st.none(), st.floats(0.0, 0.999)))
def test_read_smi_fuzz(tmp_path_factory, lines, gz, cut):
    data = b"\n".join(lines) + b"\n"
    if gz:
        data = gzip.compress(data, mtime=0)
    if cut is not None:
        data = data[: int(len(data) * cut)]
    path = tmp_path_factory.mktemp("smi") / ("x.smi.gz" if gz else "x.smi")
    path.write_bytes(data)
    try:
        got = read_smi(path)
    except FeaturizationError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    text = gzip.decompress(data) if gz else data
    assert len(got) == sum(1 for ln in text.split(b"\n") if ln.decode("utf-8-sig").strip())
