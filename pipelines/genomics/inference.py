"""Scoring with a trained splice-site network: windows, transcript-sense regions, genes, records.

* :func:`predict`: ``model(x)`` in fixed-size batches through one traced function per model.
* :func:`window_probs`: class probabilities of transcript-sense windows (junction at the centre).
* :func:`class_prior` / :func:`decide`: window decisions under ``data.decision_prior``.
* :func:`score_transcript`: per-position probabilities over a transcript-sense region; window
  mode scores the GT/AG candidates only (others stay 0), nucleotide mode every position.
  :func:`pwm_transcript` does the same for the PWM baseline.
* :func:`score_gene` (a gene of a genome piece) and :func:`score_record` (a sequence read on
  one strand, used by ``sciarch genomics predict``).

Example:
    >>> import numpy as np
    >>> from pipelines.genomics.inference import decide
    >>> decide(np.array([[0.5, 0.3, 0.2]]), "balanced", np.array([0.8, 0.1, 0.1]))
    array([1])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pipelines.genomics.genome import Gene, GenomePiece, transcript_region
from pipelines.genomics.prepare import Prepared, window_width
from pipelines.genomics.pwm import SplicePWM
from pipelines.genomics.sequence import ACCEPTOR, DONOR, candidates_in, encode, pad_slice, revcomp

if TYPE_CHECKING:
    from pipelines.genomics.pipeline import GenomicsDataConfig


def predict(model, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """``model(x)`` in fixed-size batches through one traced function per model (the
    last batch is padded, so nothing is retraced across calls)."""
    import tensorflow as tf

    fn = getattr(model, "_sciarch_predict_fn", None)
    if fn is None:
        fn = tf.function(lambda t: model(t, training=False), reduce_retracing=True)
        model._sciarch_predict_fn = fn
    n = len(x)
    if n == 0:
        return np.zeros((0,) + tuple(model.output_shape[1:]), np.float32)
    bs = min(batch_size, n) if n < batch_size else batch_size
    out = []
    for a in range(0, n, bs):
        xb = x[a : a + bs]
        m = len(xb)
        if m < bs:
            xb = np.concatenate([xb, np.zeros((bs - m,) + xb.shape[1:], xb.dtype)])
        out.append(np.asarray(fn(tf.constant(xb, tf.float32)))[:m])
    return np.concatenate(out)


def window_probs(model, windows: list[str], d: GenomicsDataConfig) -> np.ndarray:
    """Class probabilities ``[n, 3]`` for transcript-sense windows (junction at centre)."""
    if not windows:
        return np.zeros((0, 3), np.float32)
    if d.mode == "window":
        out = []
        for a in range(0, len(windows), 4096):
            x = encode(windows[a : a + 4096], d.context).astype(np.float32)
            out.append(predict(model, x, 512))
        return np.concatenate(out)
    # nucleotide model: read the junction's exon bases from a per-position prediction
    ctx = d.context
    W = len(windows[0])
    h = W // 2
    x = encode([pad_slice(w, -(ctx // 2), W + ctx // 2) for w in windows], W + ctx).astype(np.float32)
    p = predict(model, x, 64)
    acc, don = p[:, h, 1], p[:, h - 1, 2]
    return np.stack([1 - np.maximum(acc, don), acc, don], 1)


def class_prior(P: Prepared, mode: str) -> np.ndarray:
    """Class frequencies of the training windows (window mode) or positions (nucleotide)."""
    if mode == "window":
        y = np.asarray(P.windows["train"].labels)
    else:
        y = P.chunks["train"][1][P.chunks["train"][2] > 0] if len(P.chunks["train"][1]) else np.zeros(0)
    counts = np.bincount(y.astype(int), minlength=3).astype(np.float64) + 1.0
    return counts / counts.sum()


def decide(probs: np.ndarray, decision_prior: str, prior: np.ndarray | None = None) -> np.ndarray:
    """Window class decisions: ``train`` keeps the training prior (argmax), ``balanced``
    divides by the class frequencies ``prior`` (see :func:`class_prior`)."""
    if decision_prior == "train":
        return probs.argmax(1)
    return (probs / prior[None, :]).argmax(1)


def candidate_windows(tseq: str, flank: int, length: int, width: int, batch: int):
    """Yield ``(offsets, class, windows)`` for the GT donor and AG acceptor candidates of a
    transcript-sense region ``tseq`` (``flank`` nt of context each side, ``length`` nt scored):
    region offsets, in batches of at most ``batch``, with their ``width``-nt windows (junction
    at ``width // 2``, N beyond ``tseq``)."""
    h = width // 2
    cands = candidates_in(tseq)
    for kind, cls in (("donor", DONOR), ("acceptor", ACCEPTOR)):
        t = cands[kind] - flank
        t = t[(t >= 0) & (t < length)]
        for a in range(0, len(t), batch):
            tt = t[a : a + batch]
            junction = tt + flank + (1 if kind == "donor" else 0)
            yield tt, cls, [tseq[j - h : j - h + width] if j - h >= 0 and j - h + width <= len(tseq)
                            else pad_slice(tseq, j - h, j - h + width) for j in junction]


def score_transcript(model, tseq: str, flank: int, length: int, d: GenomicsDataConfig) -> np.ndarray:
    """Per-position class probabilities ``[length, 3]`` over a transcript-sense region
    ``tseq`` that carries ``flank`` nt of context each side. Window mode scores the GT/AG
    candidates only (others stay 0), nucleotide mode every position."""
    probs = np.zeros((length, 3), np.float32)
    if d.mode == "window":
        W = d.context
        for tt, cls, wins in candidate_windows(tseq, flank, length, W, 8192):
            x = encode(wins, W).astype(np.float32)
            probs[tt, cls] = predict(model, x, 1024)[:, cls]
        return probs
    ctx, B = d.context, d.block
    need = ctx // 2
    src = pad_slice(tseq, flank - need, flank + length + need)  # exactly ctx/2 of context
    starts = list(range(0, length, B))
    for a in range(0, len(starts), 16):
        xs = [pad_slice(src, s, s + B + ctx) for s in starts[a : a + 16]]
        p = predict(model, encode(xs, B + ctx).astype(np.float32), 16)
        for s, pp in zip(starts[a : a + 16], p):
            n = min(B, length - s)
            probs[s : s + n] = pp[:n]
    return probs


def pwm_transcript(pwm: SplicePWM, tseq: str, flank: int, length: int, width: int) -> np.ndarray:
    """PWM pseudo-probabilities on the GT/AG candidates of a transcript-sense region
    (windows of ``width`` nt)."""
    probs = np.zeros((length, 3), np.float32)
    for tt, cls, wins in candidate_windows(tseq, flank, length, width, 50_000):
        probs[tt, cls] = pwm.predict_proba(encode(wins, width))[:, cls]
    return probs


def scoring_flank(d: GenomicsDataConfig) -> int:
    """Context (nt) taken each side of a gene or record before scoring it."""
    return max(d.context, window_width(d))


def score_gene(model, piece: GenomePiece, gene: Gene, d: GenomicsDataConfig) -> np.ndarray:
    """Per-position probabilities ``[gene length, 3]`` over a gene body (transcript sense)."""
    flank = scoring_flank(d)
    tseq = transcript_region(piece, gene, flank)
    return score_transcript(model, tseq, flank, gene.end0 - gene.start0, d)


def score_record(model, seq: str, strand: str, d: GenomicsDataConfig) -> np.ndarray:
    """Per-position probabilities ``[len, 3]`` of a sequence read on ``strand``, indexed in
    + strand coordinates of ``seq``."""
    flank = scoring_flank(d)
    L = len(seq)
    t = seq if strand == "+" else revcomp(seq)
    padded = "N" * flank + t + "N" * flank
    p = score_transcript(model, padded, flank, L, d)
    return p if strand == "+" else p[::-1]
