"""Report figures of the genomics pipeline: PR curves (model vs PWM), attention weights
over an example sequence, in-silico mutagenesis (ISM) around a true site.

Example:
    >>> from pipelines.genomics.report import ism_matrix
    >>> import numpy as np
    >>> f = lambda x: x[:, :, 2].sum(1)          # "score" = number of G
    >>> d = ism_matrix(f, "ACGT", 0, 4)
    >>> d.shape, float(d[2, 0])                   # A->G at position 0 adds one G
    ((4, 4), 1.0)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipelines.genomics import sequence as S
from pipelines.genomics.inference import predict
from pipelines.genomics.metrics import pr_auc, pr_curve
from pipelines.genomics.model import POOLING_LAYER, SELF_ATTENTION_LAYER


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def ism_matrix(score_fn, seq: str, lo: int, hi: int) -> np.ndarray:
    """Score change ``[4, hi - lo]`` for every single-base substitution in ``seq[lo:hi]``.

    ``score_fn`` maps one-hot ``[n, L, 4]`` float32 to scores ``[n]``; the reference base
    rows are 0.
    """
    ref = S.encode(seq).astype(np.float32)
    variants = []
    for pos in range(lo, hi):
        for b in range(4):
            v = ref[0].copy()
            v[pos] = 0
            v[pos, b] = 1
            variants.append(v)
    s_ref = float(np.asarray(score_fn(ref))[0])
    s = np.asarray(score_fn(np.stack(variants))).reshape(hi - lo, 4) - s_ref
    return s.T


def _pr_plot(plt, store, scope, path, dpi):
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    y = store["labels"]
    for ax, cls in zip(axes, (S.ACCEPTOR, S.DONOR)):
        for key, style in (("model", "-"), ("pwm", "--")):
            if key not in store:
                continue
            s = store[key][:, cls]
            prec, rec, _ = pr_curve(y == cls, s)
            ax.plot(rec, prec, style, label=f"{'network' if key == 'model' else 'PWM'} (PR-AUC {pr_auc(y == cls, s):.3f})")
        ax.set_title(f"{S.CLASSES[cls]}: {int((y == cls).sum())} true sites among {len(y):,}", fontsize=10)
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.legend(loc="lower left")
    fig.suptitle(f"precision-recall, network vs PWM ({scope})", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _example_site(pipe, kind_cls=S.DONOR) -> str | None:
    """A validation true-site window (genome first, then any source)."""
    P = pipe.prepare()
    ws = P.windows.get("validation") or P.windows.get("train")
    if ws is None:
        return None
    for want in ("genome", "hs3d", "dranet", "uci"):
        for s, y, src, nat in zip(ws.seqs, ws.labels, ws.sources, ws.native):
            if y == kind_cls and src == want and nat >= min(70, len(s) // 2):
                return s
    return None


def write_report_figures(pipe, model, out_dir: Path, dpi: int = 110) -> list[Path]:
    """Write the pipeline's figures into ``out_dir``; return their paths."""
    import keras

    from sciarch.ensemble import ensemble_members

    plt = _plt()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    store = pipe.last_eval or {}
    if "genes" in store:
        files.append(_pr_plot(plt, store["genes"], "held-out genes, every position", out_dir / "pr_curves_genes.png", dpi))
    if "windows" in store:
        files.append(_pr_plot(plt, store["windows"], "held-out windows", out_dir / "pr_curves_windows.png", dpi))

    mode = pipe.config.data.mode
    seq = _example_site(pipe)
    if seq is None:
        return files
    W = len(seq)
    h = W // 2
    ctx = pipe.config.data.context

    def full_input(x):  # window-width one-hot -> model input
        if mode == "window":
            return x
        pad = np.zeros((x.shape[0], ctx // 2, 4), np.float32)
        return np.concatenate([pad, x, pad], axis=1)

    def donor_score(x):
        p = predict(model, full_input(x), 256)
        return p[:, S.DONOR] if mode == "window" else p[:, h - 1, S.DONOR]

    # ---- attention weights over the example (an ensemble shows its first member's)
    net = ensemble_members(model)[0]
    try:
        x = S.encode(seq).astype(np.float32)
        if mode == "window":
            layer = net.get_layer(POOLING_LAYER)
            sub = keras.Model(net.inputs, layer.output[1])
            w = np.asarray(sub.predict(x, verbose=0))[0]
            pos = (np.arange(len(w)) + 0.5) * (W / len(w)) - h
            title = "attention-pooling weights (network's read-out over the window)"
        else:
            layer = net.get_layer(SELF_ATTENTION_LAYER)
            inp = layer.input
            sub = keras.Model(net.inputs, inp)
            feats = sub.predict(full_input(x), verbose=0)
            _, scores = layer(feats, return_attention_scores=True)
            scores = np.asarray(scores)[0]
            q = ctx // 2 + h - 1  # the donor's exon base
            if scores.ndim == 3:  # windowed: [T, heads, offsets]
                w = scores[q].mean(0)
                pos = np.arange(len(w)) - len(w) // 2 + (q - ctx // 2) - h
            else:  # global: [heads, T, T]
                w = scores[:, q, :].mean(0)
                pos = np.arange(len(w)) - ctx // 2 - h
            title = "self-attention of the donor position (mean over heads)"
        fig, ax = plt.subplots(figsize=(10, 3))
        ax.plot(pos, w, color="tab:purple")
        ax.axvline(0, color="k", lw=0.6, ls=":")
        ax.set_xlabel("position relative to the exon/intron junction (nt)")
        ax.set_ylabel("weight")
        ax.set_title(title)
        centre = seq[h - 10 : h + 10]
        ax.text(0.01, 0.92, f"sequence at junction: {centre[:10]}|{centre[10:]}", transform=ax.transAxes,
                family="monospace", fontsize=8)
        fig.tight_layout()
        path = out_dir / "attention_example.png"
        fig.savefig(path, dpi=dpi)
        plt.close(fig)
        files.append(path)
    except Exception as exc:  # noqa: BLE001 - a figure must never break the run
        (out_dir / "attention_example.error.txt").write_text(f"{type(exc).__name__}: {exc}\n")

    # ---- in-silico mutagenesis around the junction
    r = min(30, h - 1)
    delta = ism_matrix(donor_score, seq, h - r, h + r)
    fig, ax = plt.subplots(figsize=(12, 2.8))
    lim = max(1e-6, float(np.abs(delta).max()))
    im = ax.imshow(delta, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   extent=(-r - 0.5, r - 0.5, 3.5, -0.5))
    ax.set_yticks(range(4), list("ACGT"))
    for i, c in enumerate(seq[h - r : h + r]):
        ax.text(i - r, -0.9, c.upper(), ha="center", va="bottom", fontsize=6, family="monospace")
    ax.set_xlabel("position relative to the junction (0 = first intron base)")
    ax.set_title("in-silico mutagenesis: change in donor probability for each substitution", pad=24)
    fig.colorbar(im, ax=ax, fraction=0.02)
    fig.tight_layout()
    path = out_dir / "ism_donor.png"
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    files.append(path)
    return files
