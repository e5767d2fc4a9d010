"""The screen as an Apache Beam pipeline (RunInference): ``sciarch screen --runner beam``.

Libraries of 10^8-10^9 molecules outgrow one machine; this package runs the local screen's
building blocks as Beam transforms, so the same pipeline runs on the DirectRunner (tested)
and unchanged on Dataflow, Flink or Spark (not testable here)::

    shard paths (glob, sorted)
      -> ReadChunks (DoFn)     ScreenOptions.library_spec + readers.iter_raw_chunks      (line numbers kept)
      -> Reshuffle             spreads chunks over workers
      -> Featurize (DoFn)      featurize.featurize_chunk                                  -> rejects (tagged)
      -> RunInference          KeyedModelHandler(ScreenModelHandler): scoring.score_chunk
                               (model loaded once per worker, each target encoded once)
      -> ToRows                one pyarrow table per chunk  -> WriteToParquetBatched (sharded scores)
      -> CombineGlobally(TopNCombineFn)  ranking.ranking_key + TopN.offer / TopN.merge -> hits.csv
    rejects -> Reject.tsv_line() -> WriteToText (sharded, header "line\\traw\\treason")

Nothing is copied from the local screen: the options (:class:`~sciarch.screening.options.ScreenOptions`,
the same object the local screen takes), reader, featuriser, scorer call, ranking and output
formatting are imported. Modules: :mod:`.transforms` (DoFns, CombineFn), :mod:`.handler`
(the RunInference :class:`~sciarch.screening.beam.handler.ScreenModelHandler`), :mod:`.launch`
(launcher checks, pipeline graph, run, ``summary.json``). Importing it needs ``apache-beam``
(``pip install "sciarch[beam]"``). The RunInference element is one featurised chunk (keyed by
``(shard, chunk)``); its molecules are already in padded, atom-count-sorted batches of
``batch_size``, and the handler scores them with :func:`~sciarch.screening.scoring.score_chunk`,
the exact call of the local screen, so scores agree to float tolerance.

Outputs under ``--out`` (a local path or any Beam filesystem URI such as ``gs://``):

* ``hits.csv`` -- the global top N, byte-for-byte the local format for one library file;
  with several shards a ``shard`` column (file name) follows ``line``;
* ``scores/scores-SSSSS-of-NNNNN.parquet`` -- every scored molecule
  (``shard, line, id, smiles, score_<target>...``), unordered across files;
* ``rejected/rejected-SSSSS-of-NNNNN.tsv`` -- every line that could not be scored, the local
  ``rejected.tsv`` rows (``line, raw, reason``; with several shards ``shard`` comes first);
* ``read_errors/...`` -- shards whose compressed stream was truncated/corrupt (everything
  before the error is scored); the command then exits with status 1;
* ``summary.json`` -- counts (from Beam metrics), runner, wall time, molecules/s.

Ties in the ranking are broken by (shard order, line), so the top N is deterministic.
``--dedup`` de-duplicates globally by canonical SMILES (the first occurrence in (shard, line)
order is scored, later ones are ledgered as duplicates), as the local screen does.
``--resume`` returns a finished job in ``--out`` with the same settings as it is and runs an
unfinished one again from the start (failed bundles inside a job are retried by the runner).

Example:
    sciarch screen --model runs/davis --library 'libs/part-*.smi.gz' \\
        --target egfr.fasta --top 100 --out screens/egfr_beam --runner beam          # DirectRunner
    sciarch screen ... --runner beam --beam-option=--runner=DataflowRunner \\
        --beam-option=--project=my-project --beam-option=--region=europe-west4 \\
        --beam-option=--temp_location=gs://bucket/tmp --beam-option=--setup_file=./setup.py

    >>> from sciarch.screening.beam import BeamJob, run_beam_screen  # doctest: +SKIP
    >>> from sciarch.screening.options import ScreenOptions  # doctest: +SKIP
    >>> run_beam_screen(ScreenOptions("libs/*.smi.gz", "screens/egfr"), BeamJob(["egfr.fasta"], "runs/davis"))  # doctest: +SKIP
"""

from sciarch.screening.beam.handler import ScreenModelHandler
from sciarch.screening.beam.launch import BeamJob, build_pipeline, run_beam_screen
from sciarch.screening.beam.transforms import TopNCombineFn

__all__ = ["BeamJob", "ScreenModelHandler", "TopNCombineFn", "build_pipeline", "run_beam_screen"]
