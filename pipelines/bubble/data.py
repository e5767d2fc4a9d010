"""Simulated bubble-chamber data sets: embedded ``.npz`` format, caching, ``tf.data`` inputs.

On-disk format (written by :func:`save_npz`, read by :func:`load_npz`): one ``.npz``
(optionally gzipped, ``.npz.gz``) holding the arrays of
:class:`~pipelines.bubble.simulation.Sample` -- ``images`` uint8 ``[N, H, W]`` (dark =
bubbles), ``boxes`` float32 ``[N, M, 4]`` as ``(x0, y0, x1, y1)`` pixels, ``classes`` int32
``[N, M]`` (index into ``CLASS_NAMES``; -1 = padding), ``n_tracks`` ``[N]`` and the
physics labels (``particle``, ``charge``, ``momentum``, ``pt_xy``, ``parent``, ``start``,
``end``, ``vertices``). A folder means every ``*.npz`` / ``*.npz.gz`` in it, in name order.
Only ``images``, ``boxes`` and ``classes`` are required to evaluate a detector.

Example:
    >>> from pipelines.bubble.data import simulate
    >>> from pipelines.bubble.simulation import SimulatorConfig
    >>> s = simulate(SimulatorConfig(image_size=(64, 64), tracks_per_image=(2, 3)), n=2, seed=0)
    >>> s.images.shape
    (2, 64, 64)
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from pathlib import Path

import numpy as np

from pipelines.bubble.simulation import CLASS_NAMES, SIMULATOR_VERSION, BubbleChamberSimulator, Sample, SimulatorConfig

REQUIRED = ("images", "boxes", "classes")


def simulate(config: SimulatorConfig, n: int, seed: int, progress: bool = False) -> Sample:
    """Simulate ``n`` frames in chunks (with a progress bar when ``progress``)."""
    sim = BubbleChamberSimulator(config)
    chunk = config.chunk_size
    parts = []
    starts = range(0, n, chunk)
    if progress:
        from rich.progress import track

        starts = track(starts, description=f"simulating {n} bubble-chamber frames", transient=True)
    for start in starts:
        parts.append(sim.generate(min(chunk, n - start), seed=seed, start_index=start))
    return Sample.concatenate(parts) if len(parts) > 1 else parts[0]


def cached_simulation(config: SimulatorConfig, n: int, seed: int, cache_dir: Path | None, progress: bool = True) -> Sample:
    """``simulate`` with an on-disk cache keyed by the full simulator config, ``n`` and ``seed``."""
    if cache_dir is None:
        return simulate(config, n, seed, progress)
    import dataclasses

    key = json.dumps({"cfg": dataclasses.asdict(config), "n": n, "seed": seed, "version": SIMULATOR_VERSION}, sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"bubble_{digest}.npz"
    if path.is_file():
        return load_npz(path)
    sample = simulate(config, n, seed, progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **sample.to_npz_dict())
    tmp.replace(path)
    return sample


def save_npz(sample: Sample, path: str | Path, compress_gzip: bool = False) -> Path:
    """Write ``sample`` in the embedded format (``.npz``, or ``.npz.gz`` with ``compress_gzip``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress_gzip:
        buf = io.BytesIO()
        np.savez(buf, **sample.to_npz_dict())
        with gzip.open(path, "wb") as fh:
            fh.write(buf.getvalue())
    else:
        np.savez_compressed(path, **sample.to_npz_dict())
    return path


def _read_one(path: Path) -> dict[str, np.ndarray]:
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
            data = np.load(io.BytesIO(raw), allow_pickle=False)
        else:
            data = np.load(path, allow_pickle=False)
        arrays = {k: data[k] for k in data.files}
    except Exception as exc:  # noqa: BLE001 - reported with the file name
        raise ValueError(f"{path}: not a readable .npz bubble data file ({exc})") from None
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing array(s) {missing}; need {list(REQUIRED)}")
    images, boxes, classes = arrays["images"], arrays["boxes"], arrays["classes"]
    if images.ndim != 3:
        raise ValueError(f"{path}: field 'images' must be [N, H, W] grey-scale, got shape {images.shape}")
    n = len(images)
    if boxes.ndim != 3 or boxes.shape[0] != n or boxes.shape[2] != 4:
        raise ValueError(f"{path}: field 'boxes' must be [N={n}, M, 4], got shape {boxes.shape}")
    if classes.shape != boxes.shape[:2]:
        raise ValueError(f"{path}: field 'classes' must be [N, M]={boxes.shape[:2]}, got shape {classes.shape}")
    valid = classes >= 0
    bad_cls = np.argwhere(valid & (classes >= len(CLASS_NAMES)))
    if len(bad_cls):
        i, j = bad_cls[0]
        raise ValueError(f"{path}: record {i}, track {j}: field 'classes' = {classes[i, j]} is not a class "
                         f"index of {list(CLASS_NAMES)}")
    b = boxes
    h, w = images.shape[1:]
    bad = valid & ((b[..., 2] <= b[..., 0]) | (b[..., 3] <= b[..., 1]) | (b[..., 0] < -0.5) | (b[..., 1] < -0.5)
                   | (b[..., 2] > w + 0.5) | (b[..., 3] > h + 0.5) | ~np.isfinite(b).all(-1))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{path}: record {i}, track {j}: field 'boxes' = {b[i, j].tolist()} is not an (x0, y0, x1, y1) "
                         f"box inside the {w}x{h} image")
    if "n_tracks" not in arrays:
        arrays["n_tracks"] = valid.sum(1).astype(np.int32)
    elif not np.array_equal(arrays["n_tracks"], valid.sum(1)):
        i = int(np.flatnonzero(arrays["n_tracks"] != valid.sum(1))[0])
        raise ValueError(f"{path}: record {i}: field 'n_tracks' = {arrays['n_tracks'][i]} but {valid[i].sum()} "
                         "labelled tracks")
    return arrays


def load_npz(path: str | Path) -> Sample:
    """Read a file or folder in the embedded format into a :class:`Sample` (missing physics
    fields are filled with -1)."""
    path = Path(path)
    if path.is_dir():
        files = sorted([*path.glob("*.npz"), *path.glob("*.npz.gz")])
        if not files:
            raise ValueError(f"{path}: folder holds no .npz / .npz.gz files")
    elif path.is_file():
        files = [path]
    else:
        raise FileNotFoundError(f"{path}: no such file or folder")
    samples = []
    for f in files:
        arrays = _read_one(f)
        n, m = arrays["classes"].shape
        fill = {
            "particle": np.full((n, m), -1, np.int32), "charge": np.zeros((n, m), np.int32),
            "momentum": np.full((n, m), -1, np.float32), "pt_xy": np.full((n, m), -1, np.float32),
            "parent": np.full((n, m), -1, np.int32), "start": np.full((n, m, 2), -1, np.float32),
            "end": np.full((n, m, 2), -1, np.float32), "vertices": np.full((n, 1, 3), -1, np.float32),
        }
        kw = {k: arrays.get(k, fill.get(k)) for k in Sample.ARRAYS}
        samples.append(Sample(**kw))
    if len({s.images.shape[1:] for s in samples}) > 1:
        raise ValueError(f"{path}: files have different image sizes {sorted({s.images.shape[1:] for s in samples})}")
    return Sample.concatenate(samples) if len(samples) > 1 else samples[0]


def detection_arrays(sample: Sample, max_boxes: int, source: str = "data"):
    """``(images [N, H, W, 1] uint8, boxes [N, max_boxes, 4] yxyx float32, labels [N, max_boxes] int32)``.

    Raises if an image has more tracks than ``max_boxes`` (nothing is dropped silently).
    """
    n, m = sample.classes.shape
    counts = (sample.classes >= 0).sum(1)
    if counts.max(initial=0) > max_boxes:
        i = int(np.argmax(counts))
        raise ValueError(f"{source}: record {i} has {counts[i]} labelled tracks but data.max_boxes={max_boxes}; "
                         "raise data.max_boxes")
    boxes = np.full((n, max_boxes, 4), -1, np.float32)
    labels = np.full((n, max_boxes), -1, np.int32)
    k = min(m, max_boxes)
    xyxy = sample.boxes[:, :k]
    valid = sample.classes[:, :k] >= 0
    yxyx = xyxy[..., [1, 0, 3, 2]]
    boxes[:, :k] = np.where(valid[..., None], yxyx, -1)
    labels[:, :k] = np.where(valid, sample.classes[:, :k], -1)
    return sample.images[..., None], boxes, labels


def make_dataset(images, boxes, labels, batch_size: int, shuffle: bool, seed: int, repeat: bool,
                 input_context=None, epoch=None):
    """``tf.data`` of ``(images, {"boxes", "labels"})``, sharded per worker when ``input_context`` is given.

    ``epoch``: the runner's epoch counter (``Pipeline.epoch``); the shuffle order of epoch e then
    depends on ``(seed, e)`` only (see :mod:`sciarch.epochs`).
    """
    import tensorflow as tf

    from sciarch.distribute import shard_for_worker
    from sciarch.epochs import shuffle as epoch_shuffle

    ds = tf.data.Dataset.from_tensor_slices((images, {"boxes": boxes, "labels": labels}))
    ds = shard_for_worker(ds, input_context)
    if shuffle:
        ds = epoch_shuffle(ds, min(len(images), 2048), seed, epoch=None if repeat else epoch)
    if repeat:
        ds = ds.repeat()
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=repeat).prefetch(tf.data.AUTOTUNE)
