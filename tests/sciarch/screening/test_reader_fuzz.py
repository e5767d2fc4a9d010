"""Property tests: random bytes, truncations and edits thrown at the library readers.

Whatever the input, reading raises only :class:`LibraryReadError` with a one-line message, and
every record is either featurised or ledgered with its line number -- in particular every
untouched valid record before the point where reading stopped is scored.
"""

from __future__ import annotations

import gzip

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rdkit import Chem

from sciarch.screening.featurize import FeaturizeOptions, featurize_chunk
from sciarch.screening.readers import LibraryReadError, LibrarySpec, iter_raw_chunks

from screening_cases import zinc_lines

GOOD = zinc_lines(40)
MOLBLOCKS = [Chem.MolToMolBlock(Chem.MolFromSmiles(line.split()[0])) for line in GOOD[:8]]
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

junk_line = st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b"$", b"x"))
# an item is ("good", index) or ("junk", bytes) or ("edit", index, position, byte)
item = st.one_of(
    st.tuples(st.just("good"), st.integers(0, len(GOOD) - 1)),
    st.tuples(st.just("junk"), junk_line),
    st.tuples(st.just("edit"), st.integers(0, len(GOOD) - 1), st.integers(0, 80), st.integers(0, 255)),
)


def _edit(text: bytes, pos: int, byte: int) -> bytes:
    b = bytes([byte]) if byte not in (10, ord("$")) else b"?"
    pos = min(pos, len(text))
    return text[:pos] + b + text[pos + 1 :]


def _read_all(path, kind_opts, chunk):
    """All chunks -> (line -> 'ok'/'rejected', records, error or None)."""
    seen: dict[int, str] = {}
    n_records = 0
    err = None
    try:
        spec = LibrarySpec.from_path(path, **kind_opts)
        opts = FeaturizeOptions(kind=spec.kind, delimiter=spec.delimiter, smiles_index=spec.smiles_index,
                                id_index=spec.id_index, batch_size=16)
        for c in iter_raw_chunks(spec, chunk):
            fc = featurize_chunk(c, opts)
            assert len(fc.lines) + len(fc.rejects) == fc.n_records == c.n_records
            n_records += c.n_records
            for ln in fc.lines.tolist():
                assert ln not in seen
                seen[ln] = "ok"
            for r in fc.rejects:
                assert r.line not in seen and "\n" not in r.tsv_line()[:-1]
                seen[r.line] = "rejected"
    except LibraryReadError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        err = exc
    return seen, n_records, err


def _maybe_cut(data: bytes, gz: bool, cut: float | None) -> bytes:
    if gz:
        data = gzip.compress(data, mtime=0)
    if cut is not None:
        data = data[: int(len(data) * cut)]
    return data


def _check_lines(seen, n_records, err, good_lines: set[int], n_lines: int, header: int = 0):
    assert n_records == len(seen)
    last = (err.unread_from_line - 1) if (err is not None and err.unread_from_line) else None
    for ln in good_lines:
        if last is None or ln < last:  # the last line read may be a cut-off one
            assert seen.get(ln) == "ok", ln
    if err is None:
        assert set(seen) <= set(range(header + 1, n_lines + 1))


@SETTINGS
@given(items=st.lists(item, min_size=1, max_size=30), gz=st.booleans(),
       cut=st.one_of(st.none(), st.floats(0.05, 0.999)), chunk=st.integers(1, 9), crlf=st.booleans())
def test_smi_reader_fuzz(tmp_path_factory, items, gz, cut, chunk, crlf):
    lines, good = [], set()
    for it in items:
        if it[0] == "good":
            lines.append(GOOD[it[1]].encode())
            good.add(len(lines))
        elif it[0] == "junk":
            lines.append(it[1])
        else:
            lines.append(_edit(GOOD[it[1]].encode(), it[2], it[3]))
    sep = b"\r\n" if crlf else b"\n"
    raw = sep.join(lines) + sep
    data = _maybe_cut(raw, gz, cut)
    if cut is not None and not gz:  # a plain cut: only lines wholly before it stay valid
        n_full = data.count(b"\n")
        good = {g for g in good if g <= n_full}
    path = tmp_path_factory.mktemp("smi") / ("lib.smi.gz" if gz else "lib.smi")
    path.write_bytes(data)
    seen, n, err = _read_all(path, {}, chunk)
    if err is None:  # read to the end: one record per physical line of the text
        text = raw if gz else data
        assert n == text.count(b"\n") + (0 if text.endswith(b"\n") or not text else 1)
    _check_lines(seen, n, err, good, len(lines))


@SETTINGS
@given(items=st.lists(item, min_size=1, max_size=25), gz=st.booleans(),
       cut=st.one_of(st.none(), st.floats(0.05, 0.999)), chunk=st.integers(1, 7))
def test_csv_reader_fuzz(tmp_path_factory, items, gz, cut, chunk):
    lines, good = [b"id,smiles"], set()
    for it in items:
        if it[0] == "good":
            smi, ident = GOOD[it[1]].split()
            lines.append(f"{ident},{smi}".encode())
            good.add(len(lines))
        elif it[0] == "junk":
            lines.append(it[1])
        else:
            smi, ident = GOOD[it[1]].split()
            lines.append(_edit(f"{ident},{smi}".encode(), it[2], it[3]))
    data = _maybe_cut(b"\n".join(lines) + b"\n", gz, cut)
    if cut is not None and not gz:
        good = {g for g in good if g <= data.count(b"\n")}
    path = tmp_path_factory.mktemp("csv") / ("lib.csv.gz" if gz else "lib.csv")
    path.write_bytes(data)
    seen, n, err = _read_all(path, {}, chunk)
    if err is not None and err.unread_from_line is None:  # refused up front: the header itself was cut/damaged
        assert "line 1" in str(err) or "header" in str(err) or "compressed" in str(err) or "NUL" in str(err)
        return
    _check_lines(seen, n, err, good, len(lines), header=1)


@SETTINGS
@given(items=st.lists(st.one_of(
    st.tuples(st.just("good"), st.integers(0, len(MOLBLOCKS) - 1)),
    st.tuples(st.just("junk"), st.lists(junk_line, max_size=5)),
    st.tuples(st.just("edit"), st.integers(0, len(MOLBLOCKS) - 1), st.integers(0, 400), st.integers(0, 255)),
), min_size=1, max_size=12), gz=st.booleans(), cut=st.one_of(st.none(), st.floats(0.05, 0.999)),
    chunk=st.integers(1, 4))
def test_sdf_reader_fuzz(tmp_path_factory, items, gz, cut, chunk):
    blocks, good = [], set()
    line = 1
    for it in items:
        if it[0] == "good":
            body = MOLBLOCKS[it[1]].encode()
            good.add(line)
        elif it[0] == "junk":
            body = b"".join(j + b"\n" for j in it[1])
        else:
            body = _edit(MOLBLOCKS[it[1]].encode(), it[2], it[3])
        block = body + b"$$$$\n"
        blocks.append(block)
        line += block.count(b"\n")
    raw = b"".join(blocks)
    data = _maybe_cut(raw, gz, cut)
    if cut is not None and not gz:  # records wholly before the cut
        ok_until = data.count(b"\n") + 1
        starts, ln = [], 1
        for b in blocks:
            starts.append((ln, ln + b.count(b"\n")))
            ln += b.count(b"\n")
        good = {s for s, e in starts if s in good and e <= ok_until}
    path = tmp_path_factory.mktemp("sdf") / ("lib.sdf.gz" if gz else "lib.sdf")
    path.write_bytes(data)
    seen, n, err = _read_all(path, {}, chunk)
    assert n == len(seen)
    last = (err.unread_from_line - 1) if (err is not None and err.unread_from_line) else None
    # a record cut by a truncated stream is ledgered as "truncated" under its first line
    for g in good:
        if last is None or g < max((k for k in seen), default=0):
            assert seen.get(g) == "ok", g
