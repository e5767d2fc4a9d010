"""Feature ablation of the ECFP4 + composition MLP baseline: which side's features carry it.

The MLP of :func:`pipelines.drugscreen.baselines.ecfp_mlp_baseline` is refitted on the same
training rows with the drug's ECFP4 bits and/or the protein's composition replaced by a
one-hot code of the drug / protein. A one-hot code tells the entities apart but says nothing
about how they resemble each other, so the drop from the full features measures what the
features themselves contribute. On Davis it points at the protein side (the composition),
which is what ``model.protein_composition`` adds to the GNN model.

Usage::

    nice -n 10 .venv/bin/python benchmarks/drug_affinity_features.py --dataset davis --fold 0
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS = {
    "ecfp4+composition": ("ecfp4", "composition"),
    "drug_id+composition": ("identity", "composition"),
    "ecfp4+protein_id": ("ecfp4", "identity"),
    "drug_id+protein_id": ("identity", "identity"),
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="davis")
    ap.add_argument("--fold", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40, help="MLP epochs (early stopping, patience 10)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/drug_affinity_features.json"))
    args = ap.parse_args(argv)

    from pipelines.drugscreen.baselines import ecfp_mlp_baseline
    from pipelines.drugscreen.data import DTAData

    data = DTAData.load(args.dataset, graph_features="v2")
    tr = data.split_index("train", fold=args.fold)
    va = data.split_index("validation", fold=args.fold)
    results = {}
    for name in [v.strip() for v in args.variants.split(",") if v.strip()]:
        if name not in VARIANTS:
            raise SystemExit(f"--variants: unknown variant {name!r} (known: {', '.join(VARIANTS)})")
        drug, prot = VARIANTS[name]
        t0 = time.perf_counter()
        m = ecfp_mlp_baseline(data, tr, va, epochs=args.epochs, drug_features=drug, protein_features=prot)
        m["wall_time_s"] = round(time.perf_counter() - t0, 1)
        results[name] = m
        print(f"{name:22s} CI {m['ci']:.4f}  MSE {m['mse']:.4f}  ({m['wall_time_s']} s)", flush=True)
    full = results.get("ecfp4+composition")
    out = {
        "benchmark": "drug_affinity_features",
        "dataset": args.dataset,
        "validation_fold": args.fold,
        "train_pairs": int(len(tr)),
        "validation_pairs": int(len(va)),
        "mlp_epochs": args.epochs,
        "variants": results,
        "ci_drop_vs_full": {k: round(full["ci"] - v["ci"], 4) for k, v in results.items()} if full else None,
        "command": "python benchmarks/drug_affinity_features.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
