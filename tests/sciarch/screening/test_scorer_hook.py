"""`sciarch screen --model RUN` asks the run's pipeline for its scorer (``Pipeline.screen_scorer``),
importing only that pipeline; the featurisation workers never import TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sciarch.config import ConfigError
from sciarch.pipeline import Pipeline, load_pipeline_class
from sciarch.screening.cli import app
from sciarch.screening.scoring import ScorerError, make_scorer, model_scorer

from screening_cases import zinc_lines

ROOT = Path(__file__).resolve().parents[3]


def _screen(*args):
    return CliRunner().invoke(app, ["screen", *args])


def test_model_scorer_imports_only_the_runs_pipeline(tiny_run, targets):
    code = (
        "import sys, json\n"
        "from sciarch.screening.scoring import make_scorer\n"
        f"s = make_scorer({str(tiny_run)!r}, {[str(t) for t in targets]!r})\n"
        "pk = sorted(m for m in sys.modules if m.startswith('pipelines.') and m.count('.') == 1)\n"
        "print(json.dumps([type(s).__module__, type(s).__name__, s.target_names, pk]))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    module, name, names, packages = json.loads(r.stdout.strip().splitlines()[-1])
    assert (module, name) == ("pipelines.drugscreen.screening", "AffinityModelScorer")
    assert names == ["AAK1", "ABL1(E255K)"]
    assert packages == ["pipelines.drugscreen"]


def test_featurisation_workers_do_not_import_tensorflow(tmp_path, tiny_run, targets):
    import sciarch.screening.engine as eng
    from sciarch.screening.options import ScreenOptions
    from sciarch.screening.readers import iter_raw_chunks

    make_scorer(tiny_run, targets)  # the main process has TensorFlow now
    assert "tensorflow" in sys.modules
    lib = tmp_path / "lib.smi"
    lib.write_text("\n".join(zinc_lines(20)) + "\n")
    opts = ScreenOptions(library=str(lib), out=str(tmp_path / "o"))
    spec = opts.library_spec(str(lib))
    chunk = next(iter(iter_raw_chunks(spec, 10)))
    pool = eng._make_pool(1)
    try:
        fc = pool.apply(eng._featurize_task, (chunk, opts.featurize_options(spec)))
        assert len(fc.ids) == 10
        assert pool.apply(eval, ("'tensorflow' in __import__('sys').modules",)) is False
        assert pool.apply(eval, ("'keras' in __import__('sys').modules",)) is False
    finally:
        assert eng._stop_pool(pool) is True


def test_a_pipeline_without_the_hook_cannot_screen(tmp_path, monkeypatch, targets):
    class NoScreen(Pipeline):
        name = "noscreen_test"

    import sciarch.registry as registry

    monkeypatch.setitem(registry._REGISTRY, "noscreen_test", NoScreen)
    assert load_pipeline_class("noscreen_test") is NoScreen
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")
    (run / "config.yaml").write_text("pipeline: noscreen_test\n")
    with pytest.raises(ConfigError, match="pipeline 'noscreen_test' cannot screen"):
        model_scorer(run, targets)
    lib = tmp_path / "l.smi"
    lib.write_text("CCO a\n")
    r = _screen("--model", str(run), "--library", str(lib), "--target", str(targets[0]), "--out",
                str(tmp_path / "o"), "--workers", "0", "--no-progress")
    assert r.exit_code == 2
    assert r.output.strip() == (f"error: {run}: pipeline 'noscreen_test' cannot screen molecule libraries "
                                "(it has no screen_scorer)")


def test_run_directory_errors_are_one_line(tmp_path, targets):
    with pytest.raises(ScorerError, match="model run directory not found"):
        model_scorer(tmp_path / "nope", targets)
    run = tmp_path / "run"
    run.mkdir()
    with pytest.raises(ScorerError, match="no trained model in this run directory"):
        model_scorer(run, targets)
    (run / "model.keras").write_bytes(b"")
    lib = tmp_path / "l.smi"
    lib.write_text("CCO a\n")
    r = _screen("--model", str(run), "--library", str(lib), "--target", str(targets[0]), "--out",
                str(tmp_path / "o"), "--workers", "0", "--no-progress")
    assert r.exit_code == 2 and r.output.strip() == f"error: {run}: not a run directory (no config.yaml)"
    (run / "config.yaml").write_text("seed: 1\n")
    with pytest.raises(ConfigError, match="key 'pipeline': expected a pipeline name"):
        model_scorer(run, targets)


def test_output_shards_needs_the_beam_runner(tmp_path, targets):
    lib = tmp_path / "l.smi"
    lib.write_text("CCO a\n")
    r = _screen("--library", str(lib), "--target", str(targets[0]), "--scorer", "screening_cases:atom_scorer_factory",
                "--out", str(tmp_path / "o"), "--output-shards", "2")
    assert r.exit_code == 2 and r.output.strip() == "error: --output-shards needs --runner beam"
