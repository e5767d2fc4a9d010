"""All layers under MirroredStrategy on 2 logical CPU devices, in ONE fresh subprocess."""

import json
import math
import os
import subprocess
import sys

import sciarch.layers
from layer_cases import COVERS, ONE_PER_CLASS

HERE = os.path.dirname(os.path.abspath(__file__))


def test_all_layers_train_under_mirrored_strategy():
    proc = subprocess.run(
        [sys.executable, os.path.join(HERE, "mirrored_check.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULTS_JSON ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    results = json.loads(lines[-1][len("RESULTS_JSON ") :])
    assert results["num_replicas"] == 2
    assert all(math.isfinite(v) for v in results["loss"])
    cases = results["cases"]
    assert set(cases) == set(ONE_PER_CLASS)
    assert {cls for name in cases for cls in COVERS[name]} == set(sciarch.layers.__all__)
    bad = {k: v for k, v in cases.items() if not (v["finite"] and v["max_abs_diff"] < 1e-4)}
    assert not bad, f"replicated predictions differ from single-device ones: {bad}"
