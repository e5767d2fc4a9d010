"""Position-weight-matrix baseline for splice sites (log-odds true site vs GT/AG decoy).

The PWM is fitted on the same training windows as the network: for donors the 9 nt
around the junction (3 exon + 6 intron, the classic MaxEntScan 9-mer), for acceptors
23 nt (20 intron + 3 exon). Each position's log-odds compares base frequencies at true
sites with those at decoy windows of the same candidate type (GT or AG at the junction),
with a pseudocount. A decision threshold per kind is fitted on the training windows
(best balanced accuracy: equal weight to true sites and decoys, the same equal-prior
rule the network's window decisions use), so the PWM also gives window classifications.

Example:
    >>> from pipelines.genomics.pwm import SplicePWM
    >>> wins = ["AAAAACAGGTAAGTAA", "AAAAACTTGTCCTAAA", "TTTTTTAGGAAAAAAA", "CCCCCCAGTCCCCCCC"]
    >>> pwm = SplicePWM().fit(wins, [2, 0, 1, 0])
    >>> probs = pwm.predict_proba(wins)
    >>> probs.shape, int(probs[0].argmax()), int(probs[1].argmax())
    ((4, 3), 2, 0)
"""

from __future__ import annotations

import numpy as np

from pipelines.genomics.sequence import ACCEPTOR, DONOR, NEITHER, encode

SPANS = {"donor": (-3, 6), "acceptor": (-20, 3)}


class SplicePWM:
    """Donor and acceptor log-odds PWMs with fitted thresholds.

    Args:
        pseudocount: added to every base count.
    """

    def __init__(self, pseudocount: float = 1.0):
        self.pseudocount = pseudocount
        self.log_odds: dict[str, np.ndarray] = {}
        self.threshold: dict[str, float] = {}
        self.width: int | None = None

    # -- helpers
    def _span(self, kind, width):
        h = width // 2
        a, b = SPANS[kind]
        return max(0, h + a), min(width, h + b)

    @staticmethod
    def _candidates(x: np.ndarray):
        """(GT at the junction, AG before it) from one-hot windows [n, W, 4]."""
        h = x.shape[1] // 2
        is_d = (x[:, h, 2] == 1) & (x[:, h + 1, 3] == 1)
        is_a = (x[:, h - 2, 0] == 1) & (x[:, h - 1, 2] == 1)
        return is_d, is_a

    def _raw(self, x, kind):
        a, b = self._span(kind, x.shape[1])
        return np.einsum("npc,pc->n", x[:, a:b, :].astype(np.float32), self.log_odds[kind])

    # -- API
    def fit(self, windows, labels) -> "SplicePWM":
        x = windows if isinstance(windows, np.ndarray) else encode(list(windows))
        y = np.asarray(labels)
        self.width = x.shape[1]
        is_d, is_a = self._candidates(x)
        for kind, cls, cand in (("donor", DONOR, is_d), ("acceptor", ACCEPTOR, is_a)):
            a, b = self._span(kind, x.shape[1])
            pos = x[y == cls, a:b, :].sum(0).astype(np.float64) + self.pseudocount
            neg_sel = (y == NEITHER) & cand
            neg = x[neg_sel, a:b, :].sum(0).astype(np.float64) + self.pseudocount
            if not neg_sel.any():  # no decoys: genomic background
                neg = np.full_like(pos, 1.0)
            self.log_odds[kind] = np.log(pos / pos.sum(1, keepdims=True)) - np.log(neg / neg.sum(1, keepdims=True))
            s = self._raw(x, kind)
            task = (y == cls) | ((y == NEITHER) & cand)
            st, yt = s[task & cand], (y[task & cand] == cls)
            if len(st):
                order = np.sort(np.unique(st))
                cands = np.concatenate([[order[0] - 1], (order[:-1] + order[1:]) / 2, [order[-1] + 1]])
                if len(cands) > 2000:
                    cands = np.quantile(st, np.linspace(0, 1, 2001))
                # balanced accuracy (mean of recall on true sites and on decoys): equal priors
                acc = [0.5 * ((st[yt] > t).mean() if yt.any() else 0) + 0.5 * ((st[~yt] <= t).mean() if (~yt).any() else 0)
                       for t in cands]
                self.threshold[kind] = float(cands[int(np.argmax(acc))])
            else:
                self.threshold[kind] = 0.0
        return self

    def scores(self, windows) -> dict[str, np.ndarray]:
        """Log-odds minus threshold per kind; -inf where the window is not a candidate."""
        x = windows if isinstance(windows, np.ndarray) else encode(list(windows))
        is_d, is_a = self._candidates(x)
        out = {}
        for kind, cand in (("donor", is_d), ("acceptor", is_a)):
            s = self._raw(x, kind) - self.threshold[kind]
            out[kind] = np.where(cand, s, -np.inf)
        return out

    def predict_proba(self, windows) -> np.ndarray:
        """Pseudo-probabilities ``[n, 3]`` (neither, acceptor, donor) from sigmoid(score)."""
        s = self.scores(windows)
        pa = 1 / (1 + np.exp(-np.clip(s["acceptor"], -50, 50)))
        pd = 1 / (1 + np.exp(-np.clip(s["donor"], -50, 50)))
        pa = np.where(np.isfinite(s["acceptor"]), pa, 0.0)
        pd = np.where(np.isfinite(s["donor"]), pd, 0.0)
        both = pa + pd
        scale = np.where(both > 1, 1 / np.maximum(both, 1e-9), 1.0)
        pa, pd = pa * scale, pd * scale
        return np.stack([1 - pa - pd, pa, pd], axis=1)

    def get_config(self) -> dict:
        return {"pseudocount": self.pseudocount, "threshold": self.threshold,
                "log_odds": {k: v.tolist() for k, v in self.log_odds.items()}}
