"""Streaming batch screening of molecule libraries (``sciarch screen``).

The screen is built from plain functions so that the same code runs locally and as
Apache Beam transforms:

* :mod:`~sciarch.screening.options` -- :class:`ScreenOptions`, what a screen does (local and Beam);
* :mod:`~sciarch.screening.readers` -- library formats, raw chunks of records;
* :mod:`~sciarch.screening.featurize` -- parse / filter / featurise / pad (worker side);
* :mod:`~sciarch.screening.scoring` -- the scorer interface; a run's scorer comes from its
  pipeline's ``screen_scorer`` hook (drugscreen: :mod:`pipelines.drugscreen.screening`);
* :mod:`~sciarch.screening.ranking` -- bounded, mergeable top-N;
* :mod:`~sciarch.screening.outputs` -- rejects ledger, Parquet scores, hits.csv;
* :mod:`~sciarch.screening.engine` -- the local multi-process screen (:mod:`.checkpoint`: resume
  checks, :mod:`.progress`: progress bar);
* :mod:`~sciarch.screening.beam` -- the same screen on Apache Beam (RunInference);
* :mod:`~sciarch.screening.cli` -- the ``screen`` command (``--runner local|beam``).

The building blocks a distributed runner (Beam) reuses without a second copy:

==============================  ===============================================
step                            function
==============================  ===============================================
read a library shard            ``LibrarySpec.from_path`` + ``iter_raw_chunks`` (line numbers kept)
featurise (DoFn)                ``featurize_chunk(raw_chunk, ScreenOptions.featurize_options(spec))``
score (RunInference handler)    ``scoring.score_chunk(scorer, featurized_chunk)`` / ``scorer.score(batch)``
rank (CombineFn)                ``ranking_key`` + ``TopN.offer`` / ``TopN.merge``
rejected lines                  ``FeaturizedChunk.rejects`` -> ``Reject.tsv_line()``
==============================  ===============================================

Importing this package does not import TensorFlow.
"""

from sciarch.screening.engine import ScreenIncomplete, ScreenInterrupted, run_screen
from sciarch.screening.featurize import FILTERS, FeaturizeOptions, featurize_chunk, featurize_records
from sciarch.screening.options import ScreenError, ScreenOptions
from sciarch.screening.ranking import Hit, TopN, ranking_key
from sciarch.screening.readers import LibraryReadError, LibrarySpec, iter_raw_chunks

__all__ = [
    "FILTERS",
    "FeaturizeOptions",
    "Hit",
    "LibraryReadError",
    "LibrarySpec",
    "ScreenError",
    "ScreenIncomplete",
    "ScreenInterrupted",
    "ScreenOptions",
    "TopN",
    "featurize_chunk",
    "featurize_records",
    "iter_raw_chunks",
    "ranking_key",
    "run_screen",
]
