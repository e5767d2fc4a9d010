"""Simulator: determinism per seed and physical sanity of the labels."""

import numpy as np
import pytest

from pipelines.bubble.simulation import (
    BEAM,
    C_CURV,
    DELTA_RAY,
    SECONDARY,
    V0_DAUGHTER,
    BubbleChamberSimulator,
    SimulatorConfig,
    bethe_dedx_gev_per_m,
    delta_rate_per_m,
)


@pytest.fixture(scope="module")
def sample():
    cfg = SimulatorConfig(image_size=(160, 160), tracks_per_image=(15, 40), chunk_size=8, v0_per_interaction=1.0)
    return cfg, BubbleChamberSimulator(cfg).generate(8, seed=11, keep_paths=True)


def test_same_seed_same_frames_and_image_independent_of_batch():
    cfg = SimulatorConfig(image_size=(64, 64), tracks_per_image=(3, 9), chunk_size=4)
    sim = BubbleChamberSimulator(cfg)
    a = sim.generate(6, seed=3)
    b = sim.generate(6, seed=3)
    for name in a.ARRAYS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    # frame 5 is the same whether made alone or in a batch of 6
    c = sim.generate(1, seed=3, start_index=5)
    np.testing.assert_array_equal(c.images[0], a.images[5])
    k = int(a.n_tracks[5])
    np.testing.assert_array_equal(c.boxes[0, :k], a.boxes[5, :k])
    d = sim.generate(6, seed=4)
    assert not np.array_equal(d.images, a.images)


def test_labels_consistent(sample):
    cfg, s = sample
    h, w = cfg.image_size
    valid = s.classes >= 0
    assert (valid.sum(1) == s.n_tracks).all()
    assert s.n_tracks.max() <= cfg.tracks_per_image[1]
    b = s.boxes[valid]
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    assert b.min() >= 0 and b[:, 2].max() <= w and b[:, 3].max() <= h
    assert (s.charge[valid] != 0).all()  # only charged particles leave bubbles
    assert {BEAM, SECONDARY, DELTA_RAY} <= set(np.unique(s.classes[valid]).tolist())


def _fit_circle(xy):
    x, y = xy[:, 0], xy[:, 1]
    a = np.c_[2 * x, 2 * y, np.ones_like(x)]
    (cx, cy, c), *_ = np.linalg.lstsq(a, x * x + y * y, rcond=None)
    return np.sqrt(c + cx * cx + cy * cy)


def test_fitted_radius_matches_momentum_and_field():
    # strip scattering-dominated slow tracks: fit the first 30 px of energetic secondaries
    cfg = SimulatorConfig(image_size=(256, 256), tracks_per_image=(30, 60), chunk_size=8, field_t=1.5)
    s = BubbleChamberSimulator(cfg).generate(8, seed=5, keep_paths=True)
    ratios = []
    for i in range(len(s.images)):
        for j in range(int(s.n_tracks[i])):
            path = s.paths[i][j]
            n_fit = int(40 / cfg.step_px)
            if s.classes[i, j] != SECONDARY or len(path) < n_fit or not 0.15 < s.pt_xy[i, j] < 1.5:
                continue
            r_fit = _fit_circle(path[:n_fit]) * cfg.pixel_mm * 1e-3
            r_expected = s.pt_xy[i, j] / (C_CURV * cfg.field_t)
            ratios.append(r_fit / r_expected)
    assert len(ratios) >= 10
    assert abs(np.median(ratios) - 1.0) < 0.1


def test_delta_rays_only_from_charged_tracks_and_start_on_parent(sample):
    cfg, s = sample
    n_delta = 0
    for i in range(len(s.images)):
        for j in np.flatnonzero(s.classes[i] == DELTA_RAY):
            parent = s.parent[i, j]
            assert parent >= 0, "a delta ray always has a drawn parent"
            assert s.charge[i, parent] != 0
            assert s.classes[i, parent] != DELTA_RAY
            dist = np.linalg.norm(s.paths[i][parent] - s.start[i, j], axis=1).min()
            assert dist < 1.0, f"delta ray starts {dist:.2f} px away from its parent track"
            assert s.charge[i, j] == -1
            n_delta += 1
    assert n_delta > 0


def test_v0_daughters_meet_at_a_displaced_vertex(sample):
    cfg, s = sample
    pairs = 0
    for i in range(len(s.images)):
        idx = np.flatnonzero(s.classes[i] == V0_DAUGHTER)
        starts = {}
        for j in idx:
            starts.setdefault(tuple(np.round(s.start[i, j], 4)), []).append(j)
        for point, members in starts.items():
            if len(members) == 2:
                pairs += 1
                a, b = members
                assert s.charge[i, a] == -s.charge[i, b]  # K0s -> pi+ pi-, Lambda -> p pi-
                # the decay vertex is not on the beam track: the V0 flew (it is neutral, no parent track)
                assert s.parent[i, a] == -1 and s.parent[i, b] == -1
        # every V0 daughter that is drawn shares its start with its sibling (or the sibling left the frame)
    assert pairs >= 1
    verts = s.vertices[s.vertices[..., 2] == 1]
    assert len(verts) >= pairs


def test_ionisation_physics():
    # Bethe: minimum ionising pions ~ 0.28 MeV/cm in LH2; slow protons much more
    mip = bethe_dedx_gev_per_m(np.array([0.5]), 0.13957, 1.0)[0] * 1e3 / 100  # MeV/cm
    assert 0.2 < mip < 0.4
    slow_p = bethe_dedx_gev_per_m(np.array([0.3]), 0.938272, 1.0)[0] * 1e3 / 100
    assert slow_p > 4 * mip
    # PROVENANCE: ~1 delta ray per metre above 1 MeV, ~10 above 0.1 MeV for a fast track
    assert 0.7 < delta_rate_per_m(np.array([10.0]), 0.13957, 1.0, 1.0)[0] < 1.3
    assert 7 < delta_rate_per_m(np.array([10.0]), 0.13957, 1.0, 0.1)[0] < 13


def test_dark_slow_tracks_have_more_bubbles():
    cfg = SimulatorConfig(image_size=(128, 128), tracks_per_image=(10, 20), chunk_size=4, film_noise=0.0,
                          n_dust=0.0, n_scratches=0.0, fiducials=False)
    s = BubbleChamberSimulator(cfg).generate(4, seed=2)
    assert s.images.dtype == np.uint8
    # background is light, bubbles dark (film-scan polarity)
    assert np.median(s.images) > 180 and s.images.min() < 80


def test_bad_config_is_reported():
    with pytest.raises(ValueError, match="tracks_per_image"):
        SimulatorConfig(tracks_per_image=(5, 2))
    with pytest.raises(ValueError, match="beam_particle"):
        SimulatorConfig(beam_particle="K0S")
