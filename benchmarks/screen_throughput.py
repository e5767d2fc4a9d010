"""Throughput and memory of ``sciarch screen`` against the RDKit parse-only limit.

In ONE run on the same machine state:

1. the ZINC screening library (``data/drugscreen/zinc250k_jtvae_valid.smi.gz``, 24,445
   molecules) is replicated to ``--lines`` lines (ids made unique, every 100th line malformed) as
   ``.smi.gz``; every malformed line must end in ``rejected.tsv``;
2. RDKit parse-only rate on all cores: each of ``cpu_count`` processes reads the file and
   parses its share of the lines (``Chem.MolFromSmiles``), nothing is sent back;
3. ``sciarch screen`` end to end (a fresh process: start-up, model load, featurisation,
   inference, ranking, outputs), molecules/s = library lines / wall time;
4. the parse-only rate again (the machine is shared; both parse measurements are reported);
5. peak RSS of the whole process tree (screen + workers) for a 100k- and a 1M-line library.

The model is the drugscreen affinity model built by the pipeline's ``build_model`` from
``configs/drugscreen/davis_quick.yaml`` (untrained: scoring speed does not depend on the
weights), saved as a run directory (``model.keras`` + ``config.yaml``), unless ``--model``
names a trained run. Result: ``benchmarks/results/screen_throughput.json``.

Usage:
    python benchmarks/screen_throughput.py                 # full: 220k lines + 100k/1M memory
    python benchmarks/screen_throughput.py --lines 50000 --no-memory   # quick look
    python benchmarks/screen_throughput.py --featurize-only --model models/davis-gin-v2 \
        --out benchmarks/results/screen_throughput_featurize.json   # per-core CPU rates of each stage
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing as mp
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZINC = ROOT / "data" / "drugscreen" / "zinc250k_jtvae_valid.smi.gz"
DAVIS_FASTA = ROOT / "data" / "drugscreen" / "davis" / "proteins.fasta"
CONFIG = ROOT / "configs" / "drugscreen" / "davis_quick.yaml"
RESULTS = ROOT / "benchmarks" / "results" / "screen_throughput.json"


#: every this-many-th line of a generated library is malformed (1 %); each must be ledgered
MALFORMED_EVERY = 100
_BREAKS = ("({smi}", "{smi}Xx", "{smi}1", "C[N+]({smi}", "{smi})")


def make_library(path: Path, n_lines: int) -> tuple[int, int]:
    """Replicate the ZINC library to ``n_lines`` lines with unique ids, 1 % of them malformed.

    Line ``k * MALFORMED_EVERY`` (1-based) carries a SMILES broken one of five ways (unclosed
    branch, unknown element, unclosed ring, charged unclosed branch, stray parenthesis).
    Returns ``(lines, malformed lines)``.
    """
    with gzip.open(ZINC, "rt") as fh:
        base = [line.split() for line in fh if line.strip()]
    out = []
    bad = 0
    k = 0
    while len(out) < n_lines:
        for smi, ident in base:
            lineno = len(out) + 1
            if lineno % MALFORMED_EVERY == 0:
                smi = _BREAKS[bad % len(_BREAKS)].format(smi=smi)
                bad += 1
            out.append(f"{smi}\t{ident}_r{k}\n")
            if len(out) == n_lines:
                break
        k += 1
    with gzip.open(path, "wt", compresslevel=6) as fh:
        fh.writelines(out)
    return len(out), bad


def _parse_share(args) -> tuple[int, int, float]:
    path, rank, nproc = args
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    t = time.perf_counter()
    ok = n = 0
    with gzip.open(path, "rb") as fh:
        for i, line in enumerate(fh):
            if i % nproc != rank:
                continue
            n += 1
            if Chem.MolFromSmiles(line.split()[0].decode()) is not None:
                ok += 1
    return n, ok, time.perf_counter() - t


def parse_only_rate(path: Path, nproc: int) -> dict:
    """All cores, each process parses its own share of the lines; nothing is sent back."""
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    with ctx.Pool(nproc) as pool:
        res = pool.map(_parse_share, [(str(path), r, nproc) for r in range(nproc)])
    wall = time.perf_counter() - t
    n = sum(r[0] for r in res)
    return {
        "processes": nproc,
        "lines": n,
        "parsed_ok": sum(r[1] for r in res),
        "wall_s": round(wall, 3),
        "molecules_per_s": round(n / wall, 1),
    }


class TreeRSS:
    """Sample the RSS of a process and all its descendants; keep the peak."""

    def __init__(self, pid: int, interval: float = 0.05):
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        import psutil

        while not self._stop.is_set():
            try:
                procs = [self.proc] + self.proc.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                if total > self.peak:
                    self.peak, self.peak_processes = total, len(procs)
            except psutil.Error:
                pass
            self._stop.wait(self.interval)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.peak


def build_run_dir(run_dir: Path) -> Path:
    """The runner's run-directory format (``model.keras`` + ``config.yaml``) for an untrained model."""
    import keras

    from sciarch.config import dump_config, load_config
    from sciarch.pipeline import get_pipeline_class

    cfg = load_config(CONFIG)
    keras.utils.set_random_seed(cfg.seed)
    pipe = get_pipeline_class(cfg.pipeline)(cfg, run_dir)
    model = pipe.build_model()
    run_dir.mkdir(parents=True, exist_ok=True)
    model.save(run_dir / "model.keras")
    (run_dir / "config.yaml").write_text(dump_config(cfg))
    return run_dir


def sciarch_command() -> list[str]:
    exe = Path(sys.executable).with_name("sciarch")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "sciarch.screening.cli"]


def run_screen(lib: Path, run_dir: Path, target: Path, out: Path, workers: int | None, extra: list[str]) -> dict:
    cmd = [*sciarch_command(), "screen", "--model", str(run_dir), "--library", str(lib), "--target", str(target),
           "--top", "100", "--out", str(out), "--no-progress", "--overwrite", *extra]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    t = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    mon = TreeRSS(p.pid)
    stdout, stderr = p.communicate()
    wall = time.perf_counter() - t
    peak = mon.stop()
    if p.returncode != 0:
        raise RuntimeError(f"screen failed ({p.returncode}): {stderr.decode()[-3000:]}")
    summary = json.loads((out / "summary.json").read_text())
    return {
        "command": " ".join(cmd[len(sciarch_command()) - 1 :]),
        "lines": summary["counts"]["read"],
        "scored": summary["counts"]["scored"],
        "rejected": summary["counts"]["rejected"],
        "wall_s_end_to_end": round(wall, 3),
        "molecules_per_s_end_to_end": round(summary["counts"]["read"] / wall, 1),
        "in_process_wall_s": summary["wall_time_s"],
        "in_process_molecules_per_s": summary["molecules_per_s"],
        "startup_s": round(wall - summary["wall_time_s"], 3),
        "peak_rss_tree_mb": round(peak / 2**20, 1),
        "workers": summary["workers"],
        "main_process_timings_s": summary.get("timings_s"),
    }


def featurize_rates(n: int = 20_000, run_dir: Path | None = None) -> dict:
    """CPU-time rates (molecules/s per core) on ``n`` ZINC lines: parse-only, then per graph
    feature version the featuriser alone and the worker's whole path (parse, featurise, pack
    uint8 batches), and -- with ``run_dir`` -- the model's inference alone on those batches.

    Process CPU time, not wall time, so that other processes on a shared machine change the
    figures less; the ratios between them are what compares. Inference CPU time counts every
    TensorFlow thread of this process.
    """
    from rdkit import Chem

    from sciarch.io.molecules import GRAPH_FEATURE_VERSIONS, GraphPacker
    from sciarch.screening.featurize import FeaturizeOptions, featurize_chunk
    from sciarch.screening.readers import RawChunk

    with gzip.open(ZINC, "rb") as fh:
        lines = [line for _, line in zip(range(n), fh)]
    smiles = [line.split()[0].decode() for line in lines]
    t = time.process_time()
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    parse = time.process_time() - t
    out: dict = {"molecules": n, "parse_only_per_core": round(n / parse, 1)}
    chunks = {}
    for version in GRAPH_FEATURE_VERSIONS:
        GraphPacker(version).add(mols[0])  # warm the per-process caches
        t = time.process_time()
        for k in range(0, n, 4096):
            packer = GraphPacker(version)
            for m in mols[k : k + 4096]:
                packer.add(m)
            packed = packer.finish()
            packed.collate(range(len(packed)), compact=True)
        feat = time.process_time() - t
        opts = FeaturizeOptions(graph_features=version)
        t = time.process_time()
        chunks[version] = [
            featurize_chunk(RawChunk(k // 4096, k + 1, len(lines[k : k + 4096]), b"".join(lines[k : k + 4096])), opts)
            for k in range(0, n, 4096)
        ]
        worker = time.process_time() - t
        out[version] = {
            "featurize_and_collate_per_core": round(n / feat, 1),
            "worker_path_per_core": round(n / worker, 1),
            "worker_path_vs_parse_only": round(parse / worker, 3),
        }
    if run_dir is not None:
        from sciarch.screening.scoring import make_scorer, score_chunk

        target = Path(tempfile.mkdtemp(prefix="featurize_rates_")) / "ABL1.fasta"
        from sciarch.io.sequences import read_protein_fasta

        target.write_text(f">ABL1(E255K)\n{read_protein_fasta(DAVIS_FASTA)['ABL1(E255K)']}\n")
        scorer = make_scorer(Path(run_dir), [target], None)
        version = getattr(scorer, "graph_features", "v1")
        for chunk in chunks[version][:2]:  # warm-up: kernels for the batch shapes
            score_chunk(scorer, chunk)
        t, w = time.process_time(), time.perf_counter()
        scored = sum(len(score_chunk(scorer, c)) for c in chunks[version])
        cpu, wall = time.process_time() - t, time.perf_counter() - w
        out["inference"] = {"run_dir": str(run_dir), "graph_features": version, "molecules": scored,
                            "cpu_s_per_molecule_us": round(cpu / scored * 1e6, 1),
                            "per_core": round(scored / cpu, 1), "wall_molecules_per_s": round(scored / wall, 1)}
    return out


def _save(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=220_000, help="library size for the throughput run (>= 200k)")
    ap.add_argument("--model", type=Path, default=None, help="a trained run directory (default: build one)")
    ap.add_argument("--workers", type=int, default=None, help="screen --workers (default: all cores)")
    ap.add_argument("--no-memory", action="store_true", help="skip the 100k / 1M memory comparison")
    ap.add_argument("--memory-sizes", type=int, nargs=2, default=[100_000, 1_000_000], metavar=("SMALL", "LARGE"),
                    help="library sizes of the memory comparison")
    ap.add_argument("--skip-throughput", action="store_true", help="only the memory comparison")
    ap.add_argument("--featurize-only", action="store_true",
                    help="only the CPU-time rates of parsing, featurising and the worker path (writes --out)")
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more `sciarch screen` options")
    args = ap.parse_args()
    if args.featurize_only:
        result = {"benchmark": "screen_featurize", "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version(),
                  "load_average_at_start": [round(x, 2) for x in os.getloadavg()]},
                  "rates": featurize_rates(run_dir=args.model)}
        result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        _save(args.out, result)
        print(json.dumps(result, indent=2))
        return

    tmp = Path(tempfile.mkdtemp(prefix="screen_bench_"))
    try:
        ncpu = os.cpu_count() or 1
        result: dict = {
            "benchmark": "screen_throughput",
            "machine": {
                "cpu_count": ncpu,
                "platform": platform.platform(),
                "python": platform.python_version(),
                "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
            },
        }
        if args.skip_throughput and args.out.is_file():  # add the memory comparison to earlier results
            earlier = json.loads(args.out.read_text())
            earlier["machine_memory_run"] = result["machine"]
            result = earlier
        else:
            lib = tmp / f"zinc_x{args.lines}.smi.gz"
            n, n_bad = make_library(lib, args.lines)
            result["library"] = {"source": str(ZINC.relative_to(ROOT)), "lines": n, "malformed_lines": n_bad,
                                 "bytes": lib.stat().st_size}
        run_dir = args.model or build_run_dir(tmp / "run")
        target = tmp / "ABL1_E255K.fasta"
        from sciarch.io.sequences import read_protein_fasta

        seq = read_protein_fasta(DAVIS_FASTA)["ABL1(E255K)"]
        target.write_text(f">ABL1(E255K)\n{seq}\n")
        result["model"] = {"run_dir": str(run_dir) if args.model else f"built from {CONFIG.relative_to(ROOT)} (untrained)",
                           "target": "ABL1(E255K)", "target_length": len(seq)}

        if not args.skip_throughput:
            parse1 = parse_only_rate(lib, ncpu)
            print(f"parse-only: {parse1['molecules_per_s']:,.0f} molecules/s", flush=True)
            screen = run_screen(lib, run_dir, target, tmp / "out", args.workers, args.extra)
            print(f"screen: {screen['molecules_per_s_end_to_end']:,.0f} molecules/s end to end", flush=True)
            parse2 = parse_only_rate(lib, ncpu)
            print(f"parse-only again: {parse2['molecules_per_s']:,.0f} molecules/s", flush=True)
            parse_rate = (parse1["molecules_per_s"] + parse2["molecules_per_s"]) / 2
            result["parse_only"] = {"before_screen": parse1, "after_screen": parse2, "molecules_per_s_mean": round(parse_rate, 1)}
            result["screen"] = screen
            screen["every_malformed_line_ledgered"] = screen["rejected"] == n_bad
            ratio = screen["molecules_per_s_end_to_end"] / parse_rate
            result["ratio_screen_to_parse_only"] = round(ratio, 3)
            result["target_ratio"] = 0.5
            result["meets_throughput_target"] = ratio >= 0.5
            _save(args.out, result)
        result["peers_measured_on_this_machine_per_issue"] = {"chemprop_2.3.1_predict": 728, "DeepPurpose_virtual_screening": 116}
        if not args.no_memory:
            mem = {}
            small, large = args.memory_sizes
            for m in (small, large):
                lib_m = tmp / f"zinc_x{m}.smi.gz"
                make_library(lib_m, m)  # 1 % malformed lines here too
                r = run_screen(lib_m, run_dir, target, tmp / f"out_{m}", args.workers, args.extra)
                mem[str(m)] = {k: r[k] for k in ("lines", "peak_rss_tree_mb", "wall_s_end_to_end", "molecules_per_s_end_to_end")}
                print(f"memory {m:,} lines: peak RSS {r['peak_rss_tree_mb']:,.0f} MB", flush=True)
                result["memory"] = mem
                _save(args.out, result)
                lib_m.unlink()
                shutil.rmtree(tmp / f"out_{m}", ignore_errors=True)
            growth = mem[str(large)]["peak_rss_tree_mb"] / mem[str(small)]["peak_rss_tree_mb"] - 1
            result["memory"] = {**mem, f"growth_{large}_vs_{small}": round(growth, 4), "target_growth": 0.10,
                                "meets_memory_target": growth <= 0.10}
        result["machine_memory_run" if args.skip_throughput and "machine_memory_run" in result else "machine"][
            "load_average_at_end"
        ] = [round(x, 2) for x in os.getloadavg()]
        _save(args.out, result)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
