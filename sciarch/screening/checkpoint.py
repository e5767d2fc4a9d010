"""The local screen's output directory and checkpoint: start, overwrite, resume checks.

A resume (or a repeated finished screen) is refused when anything that changes its results
differs from the checkpoint: the options (:meth:`ScreenOptions.fingerprint`), the library
file, the targets or the scorer's fingerprint. The one-line message names the
``sciarch screen`` option that differs, old and new value.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

from sciarch.screening.options import ScreenError, ScreenOptions

__all__ = ["CHECKPOINT_VERSION", "OUTPUT_FILES", "check_resume", "library_identity", "prepare_out_dir", "settings_difference"]

CHECKPOINT_VERSION = 1

#: files of a screen in ``out`` (removed by ``--overwrite``, with ``parts/``)
OUTPUT_FILES = ("checkpoint.json", "hits.csv", "scores.parquet", "rejected.tsv", "summary.json", "dedup.npz")


def _show(v) -> str:
    """A setting's value for a one-line message."""
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(map(str, v)) + "]"
    return repr(v) if isinstance(v, str) else str(v)


def prepare_out_dir(opts: ScreenOptions) -> dict | None:
    """Make ``opts.out`` ready: the checkpoint to resume from (``opts.resume``), else ``None``.

    Raises:
        ScreenError: nothing to resume, an unreadable checkpoint, or an earlier screen in the
            directory without ``--resume`` / ``--overwrite``.
    """
    out = Path(opts.out)
    ck = out / "checkpoint.json"
    if opts.resume:
        if not ck.is_file():
            raise ScreenError(f"{out}: nothing to resume (no checkpoint.json); run without --resume")
        try:
            return json.loads(ck.read_text())
        except json.JSONDecodeError as exc:
            raise ScreenError(f"{ck}: unreadable checkpoint ({exc})") from None
    if ck.is_file() or (out / "hits.csv").is_file():
        if not opts.overwrite:
            raise ScreenError(f"{out}: holds an earlier screen; pass --resume to continue it or --overwrite to start over")
        for name in OUTPUT_FILES:
            (out / name).unlink(missing_ok=True)
        if (out / "parts").is_dir():
            for p in (out / "parts").iterdir():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return None


def library_identity(path: str) -> dict:
    st = os.stat(path)
    return {"path": os.path.abspath(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _differs(where: str, what: str, detail: str) -> ScreenError:
    return ScreenError(
        f"{where}: {what} was made with different settings ({detail}); resume with the same options or use --overwrite"
    )


def settings_difference(old: dict, new: dict) -> str:
    """The options whose values differ between two :meth:`ScreenOptions.fingerprint` dicts ('' if none)."""
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return ", ".join(f"{ScreenOptions.option_name(k)} {_show(old.get(k))} -> {_show(new.get(k))}" for k in diff)


def check_resume(ck: dict, opts: ScreenOptions, library_path: str, target_names: Sequence[str], model: dict) -> None:
    """Refuse to continue (or to re-report) a screen made with settings that change its results.

    Args:
        ck: the checkpoint (``checkpoint.json``).
        opts: this screen's options.
        library_path: the library file.
        target_names: the scorer's targets.
        model: the scorer's fingerprint.
    """
    where = f"{Path(opts.out)}/checkpoint.json"
    what = "the finished screen" if ck.get("complete") else "the checkpoint"
    if ck.get("version") != CHECKPOINT_VERSION:
        raise ScreenError(f"{where}: written by an incompatible version ({ck.get('version')})")
    detail = settings_difference(ck.get("settings") or {}, opts.fingerprint())
    if detail:
        raise _differs(where, what, detail)
    lib = library_identity(library_path)
    old = ck["library"]
    if (old["size"], old["mtime_ns"]) != (lib["size"], lib["mtime_ns"]):
        if old.get("path") and old["path"] != lib["path"]:
            raise _differs(where, what, f"--library {old['path']} -> {lib['path']}")
        raise ScreenError(f"{library_path}: the library changed since the checkpoint (size or time differ)")
    old_targets = list(ck.get("targets") or [])
    if old_targets != list(target_names):
        raise _differs(where, what, f"--target {', '.join(old_targets)} -> {', '.join(target_names)}")
    old_fp = ck.get("model") or {}
    new_fp = json.loads(json.dumps(model))
    if old_fp != new_fp:
        old_t, new_t = old_fp.get("targets"), new_fp.get("targets")
        if old_fp.get("sha256") == new_fp.get("sha256") and isinstance(old_t, dict) and isinstance(new_t, dict) \
                and old_t != new_t:
            changed = sorted(k for k in set(old_t) | set(new_t) if old_t.get(k) != new_t.get(k))
            detail = f"--target: the sequence of {', '.join(changed)} differs"
        elif old_fp.get("sha256") != new_fp.get("sha256"):
            detail = f"--model/--scorer: model sha256 {str(old_fp.get('sha256'))[:12]} -> {str(new_fp.get('sha256'))[:12]}"
        else:
            keys = sorted(k for k in set(old_fp) | set(new_fp) if old_fp.get(k) != new_fp.get(k))
            detail = "--model/--scorer: " + ", ".join(f"{k} {_show(old_fp.get(k))} -> {_show(new_fp.get(k))}" for k in keys)
        raise ScreenError(
            f"{where}: {what} was made with a different model or targets ({detail}); "
            "resume with the same options or use --overwrite"
        )
