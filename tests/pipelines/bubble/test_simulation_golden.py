"""The simulator's output for a fixed config and seed is pinned: splitting or refactoring the
code must keep frames and labels byte-identical (caches are keyed on SIMULATOR_VERSION)."""

import hashlib

import numpy as np

from pipelines.bubble.simulation import SIMULATOR_VERSION, BubbleChamberSimulator, SimulatorConfig

# sha256 over (name, dtype, shape, bytes) of every Sample array, computed with the
# single-module simulator (the former pipelines/bubble/simulator.py at SIMULATOR_VERSION 1.0)
GOLDEN = {
    "small": "e64057bbb93393ae7ba1f64fdffb8d23aba5fa99576c8b1d1c37514d328bbd3d",
    "kinks": "1b4a605840d04e114207f496d45e66f5de821c1487e1762b94390e8fa33dac42",
}
CASES = {
    "small": (dict(image_size=(96, 96), tracks_per_image=(2, 6), chunk_size=4), 6, 0, 0),
    "kinks": (dict(image_size=(64, 64), tracks_per_image=(1, 3), chunk_size=5, fiducials=False,
                   interaction_fraction=1.0, decay_length_scale=0.01, beam_particle="K+", n_scratches=5.0,
                   delta_rate_scale=3.0), 7, 11, 1),
}


def digest(sample) -> str:
    h = hashlib.sha256()
    for name, a in sample.to_npz_dict().items():
        a = np.ascontiguousarray(a)
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def simulate(case: str):
    kw, n, seed, start = CASES[case]
    return BubbleChamberSimulator(SimulatorConfig(**kw)).generate(n, seed=seed, start_index=start)


def test_frames_and_labels_match_the_pinned_digest():
    assert SIMULATOR_VERSION == "1.0", "a new SIMULATOR_VERSION needs new GOLDEN digests"
    for case, want in GOLDEN.items():
        assert digest(simulate(case)) == want, f"{case}: simulator output changed (bump SIMULATOR_VERSION)"

