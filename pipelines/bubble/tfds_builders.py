"""TFDS builder for simulated bubble-chamber frames (built offline, nothing downloaded).

Each example is one frame with its exact labels: ``image`` (uint8 ``[H, W, 1]``, dark =
bubbles), ``objects`` (per track: ``bbox`` as TFDS ``BBoxFeature`` -- normalised
``(ymin, xmin, ymax, xmax)`` --, ``label`` in ``CLASS_NAMES``, ``particle``, ``charge``,
``momentum`` GeV/c, ``parent`` (index in the same frame, -1 none), ``start`` / ``end``
points in pixels), ``vertices`` ``[V, 3]`` (x, y, kind) and ``n_tracks``.

Configs ``sparse`` (2-10 tracks), ``mixed`` (5-80) and ``crowded`` (40-90), 256x256 pixels;
``n_train`` / ``n_validation`` / ``n_test`` and ``seed`` are builder arguments (the seeds
of the three splits differ, as in the pipeline).

Example:
    >>> import tempfile
    >>> from pipelines.bubble.tfds_builders import BubbleChamber
    >>> b = BubbleChamber(config="sparse", data_dir=tempfile.mkdtemp(), n_train=4, n_validation=2, n_test=2)
    >>> b.download_and_prepare()
    >>> ex = next(iter(b.as_dataset(split="train")))
    >>> tuple(ex["image"].shape)
    (256, 256, 1)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow_datasets as tfds

from sciarch.io.tfds import LocalSourceBuilder

from pipelines.bubble.simulation import CLASS_NAMES, PARTICLES, VERTEX_KINDS, BubbleChamberSimulator, SimulatorConfig

CITATION = """Simulated with sciarch's bubble-chamber simulator; physics after the PDG Review of Particle
Physics ("Passage of particles through matter", "Kinematics", particle listings)."""


@dataclasses.dataclass
class BubbleChamberConfig(tfds.core.BuilderConfig):
    image_size: int = 256
    tracks_per_image: tuple[int, int] = (5, 80)


class BubbleChamber(LocalSourceBuilder):
    """Simulated bubble-chamber frames with per-track boxes, classes and physics labels.

    Args:
        n_train, n_validation, n_test: frames per split.
        seed: base seed (split seeds are ``seed * 1000 + 1, 2, 3``).
        simulator: extra :class:`SimulatorConfig` fields.
        **kwargs: ``tfds.core.GeneratorBasedBuilder`` arguments (``data_dir``, ``config``).
    """

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        BubbleChamberConfig(name="sparse", description="2-10 tracks per frame", tracks_per_image=(2, 10)),
        BubbleChamberConfig(name="mixed", description="5-80 tracks per frame", tracks_per_image=(5, 80)),
        BubbleChamberConfig(name="crowded", description="40-90 tracks per frame", tracks_per_image=(40, 90)),
    ]

    def __init__(self, *, n_train: int = 512, n_validation: int = 128, n_test: int = 128, seed: int = 0,
                 simulator: dict | None = None, **kwargs):
        for name, v in (("n_train", n_train), ("n_validation", n_validation), ("n_test", n_test)):
            if v < 1:
                raise ValueError(f"BubbleChamber: {name} must be >= 1, got {v}")
        self.n = {"train": n_train, "validation": n_validation, "test": n_test}
        self.seed = int(seed)
        self.simulator_overrides = dict(simulator or {})
        super().__init__(**kwargs)

    def _info(self) -> tfds.core.DatasetInfo:
        s = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=__doc__,
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(s, s, 1)),
                "n_tracks": np.int32,
                "objects": tfds.features.Sequence({
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(names=list(CLASS_NAMES)),
                    "particle": tfds.features.ClassLabel(names=list(PARTICLES)),
                    "charge": np.int32,
                    "momentum": np.float32,
                    "parent": np.int32,
                    "start": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                    "end": tfds.features.Tensor(shape=(2,), dtype=np.float32),
                }),
                "vertices": tfds.features.Tensor(shape=(None, 3), dtype=np.float32),
            }),
            supervised_keys=None,
            citation=CITATION,
            metadata=tfds.core.MetadataDict(vertex_kinds=list(VERTEX_KINDS)),
        )

    def _split_generators(self, dl_manager):
        del dl_manager  # offline: everything is simulated
        return {split: self._generate_examples(split) for split in ("train", "validation", "test")}

    def _generate_examples(self, split):
        cfg = self.builder_config
        sim = BubbleChamberSimulator(SimulatorConfig(image_size=(cfg.image_size, cfg.image_size),
                                                     tracks_per_image=cfg.tracks_per_image, **self.simulator_overrides))
        seed = self.seed * 1000 + {"train": 1, "validation": 2, "test": 3}[split]
        n = self.n[split]
        size = float(cfg.image_size)
        for start in range(0, n, sim.config.chunk_size):
            s = sim.generate(min(sim.config.chunk_size, n - start), seed=seed, start_index=start)
            for i in range(len(s.images)):
                k = int(s.n_tracks[i])
                b = s.boxes[i, :k]
                bbox = np.stack([b[:, 1], b[:, 0], b[:, 3], b[:, 2]], -1) / size
                v = s.vertices[i]
                yield f"{split}_{start + i}", {
                    "image": s.images[i][..., None],
                    "n_tracks": k,
                    "objects": {
                        "bbox": np.clip(bbox, 0.0, 1.0).astype(np.float32),
                        "label": s.classes[i, :k],
                        "particle": s.particle[i, :k],
                        "charge": s.charge[i, :k],
                        "momentum": s.momentum[i, :k],
                        "parent": s.parent[i, :k],
                        "start": s.start[i, :k],
                        "end": s.end[i, :k],
                    },
                    "vertices": v[v[:, 2] >= 0],
                }
