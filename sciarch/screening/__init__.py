"""Streaming batch screening of molecule libraries (``sciarch screen``).

The screen is built from plain functions so that the same code runs locally and as
Apache Beam transforms:

* :mod:`~sciarch.screening.readers` -- library formats, raw chunks of records;
* :mod:`~sciarch.screening.featurize` -- parse / filter / featurise / pad (worker side);
* :mod:`~sciarch.screening.scoring` -- the scorer interface and the affinity-model scorer;
* :mod:`~sciarch.screening.ranking` -- bounded, mergeable top-N;
* :mod:`~sciarch.screening.outputs` -- rejects ledger, Parquet scores, hits.csv;
* :mod:`~sciarch.screening.engine` -- the local multi-process screen with checkpoints;
* :mod:`~sciarch.screening.cli` -- the ``screen`` command.

The building blocks a distributed runner (Beam) reuses without a second copy:

==============================  ===============================================
step                            function
==============================  ===============================================
read a library shard            ``LibrarySpec.from_path`` + ``iter_raw_chunks`` (line numbers kept)
featurise (DoFn)                ``featurize_chunk(raw_chunk, FeaturizeOptions)`` -> ``FeaturizedChunk``
score (RunInference handler)    ``scoring.score_chunk(scorer, featurized_chunk)`` / ``scorer.score(batch)``
rank (CombineFn)                ``ranking_key`` + ``TopN.offer`` / ``TopN.merge``
rejected lines                  ``FeaturizedChunk.rejects`` -> ``Reject.tsv_line()``
==============================  ===============================================

Importing this package does not import TensorFlow.
"""

from sciarch.screening.engine import ScreenConfig, ScreenError, ScreenIncomplete, ScreenInterrupted, run_screen
from sciarch.screening.featurize import FILTERS, FeaturizeOptions, featurize_chunk, featurize_records
from sciarch.screening.ranking import Hit, TopN, ranking_key
from sciarch.screening.readers import LibraryReadError, LibrarySpec, iter_raw_chunks

__all__ = [
    "FILTERS",
    "FeaturizeOptions",
    "Hit",
    "LibraryReadError",
    "LibrarySpec",
    "ScreenConfig",
    "ScreenError",
    "ScreenIncomplete",
    "ScreenInterrupted",
    "TopN",
    "featurize_chunk",
    "featurize_records",
    "iter_raw_chunks",
    "ranking_key",
    "run_screen",
]
