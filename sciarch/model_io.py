"""Loading a run's saved ``model.keras``: safe mode always, and one line for every failure.

A truncated or corrupt archive, a model that ``safe_mode`` refuses (a Python lambda) or one
that uses classes nobody registered gives :class:`ModelLoadError` (a ``ConfigError``: the
CLI prints it as one line and exits 2); no code from the file runs.

Example:
    >>> from sciarch.model_io import load_run_model
    >>> model = load_run_model("runs/demo/genomics")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import keras

from sciarch.errors import ConfigError


class ModelLoadError(ConfigError):
    """``model.keras`` cannot be loaded; the message is one line with the file and the reason."""


class MissingModelError(ModelLoadError, FileNotFoundError):
    """The run directory has no ``model.keras``."""


def _first_sentence(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    cut = line.find(". ")
    line = line[: cut + 1] if 0 < cut < limit else line
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _check_keras_archive(path: Path) -> None:
    """Refuse a file that is not a complete ``.keras`` zip with a readable ``config.json``."""
    import json
    import zipfile

    bad = f"{path}: not a valid .keras archive"
    try:
        with zipfile.ZipFile(path) as zf:
            damaged = zf.testzip()  # reads every member and checks its CRC
            if damaged is not None:
                raise ModelLoadError(f"{bad} (member '{damaged}' is corrupt)")
            if "config.json" not in zf.namelist():
                raise ModelLoadError(f"{bad} (no config.json in the zip)")
            config = json.loads(zf.read("config.json"))
    except zipfile.BadZipFile:
        raise ModelLoadError(f"{bad} (truncated or corrupt zip)") from None
    except (OSError, EOFError, RuntimeError, NotImplementedError, ValueError, zipfile.LargeZipFile) as exc:
        if isinstance(exc, ModelLoadError):
            raise
        raise ModelLoadError(f"{bad} ({_first_sentence(exc)})") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise ModelLoadError(f"{bad} (config.json does not describe a Keras object)")


def _explain_load_error(path: Path, exc: BaseException) -> str:
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(str(e))
        e = e.__cause__ or e.__context__
    for msg in chain:
        if "safe_mode" in msg or "arbitrary code execution" in msg:
            what = "a Python lambda" if "lambda" in msg.lower() else "unsafe serialised code"
            return f"{path}: refused by safe_mode: the model contains {what} ({_first_sentence(msg)})"
    for msg in reversed(chain):  # the innermost error names the class
        if msg.startswith(("Could not locate", "Unknown layer", "Unknown object")):
            return (f"{path}: the model uses a class that is not a registered sciarch/Keras class "
                    f"({_first_sentence(msg)})")
    return f"{path}: cannot load the model ({type(exc).__name__}: {_first_sentence(chain[-1] if chain else exc)})"


def load_run_model(run_dir: str | Path, pipeline_cls: type | None = None) -> keras.Model:
    """Load ``<run>/model.keras`` in safe mode, with the sciarch layers and the pipeline's model
    classes registered (``pipeline_cls``'s, or every pipeline's when None).

    Raises:
        MissingModelError: no ``model.keras`` (also a ``FileNotFoundError``).
        ModelLoadError: a truncated/corrupt archive, a model refused by ``safe_mode``
            (Python lambdas), or classes that are not registered -- one line each; no code
            from the file runs.
    """
    path = Path(run_dir) / "model.keras"
    if not path.is_file():
        raise MissingModelError(f"{path}: no trained model in this run directory")
    return load_model_file(path, pipeline_cls)


def load_model_file(path: str | Path, pipeline_cls: type | None = None) -> keras.Model:
    """Load one ``.keras`` file as :func:`load_run_model` loads a run's (same registration, same errors)."""
    import sciarch.ensemble  # noqa: F401  (register the ensemble layer of train.ensemble runs)
    import sciarch.layers  # noqa: F401  (register layers)
    from sciarch.registry import available_pipelines

    for cls in [pipeline_cls] if pipeline_cls is not None else available_pipelines().values():
        cls.register_model_classes()
    path = Path(path)
    if not path.is_file():
        raise MissingModelError(f"{path}: no such model file")
    _check_keras_archive(path)
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # noqa: BLE001 - any failure of a loaded file is reported as one line
        raise ModelLoadError(_explain_load_error(path, exc)) from None


def init_weights_from(model: keras.Model, source: str | Path, pipeline_cls: type | None = None) -> list[str]:
    """Set ``model``'s weights to those of the trained model at ``source`` (``train.init_weights``:
    a run directory or a ``.keras`` file), which must have the same architecture, or the same
    plus added layers: when ``model`` has more weight tensors, they are matched by path
    (``layer/variable``) and the ones the source lacks keep their initialisation.

    Returns:
        the paths of the weights left at their initialisation (empty for the same architecture).

    Raises:
        ConfigError: no such model, a file that does not load, or other weights (count, a shape,
            or a source weight the model lacks); one line naming ``train.init_weights``, the source
            and the first difference.
    """
    src = Path(source)
    try:
        other = (load_run_model(src, pipeline_cls) if src.is_dir() or src.suffix != ".keras"
                 else load_model_file(src, pipeline_cls))
    except ConfigError as exc:
        raise ConfigError(f"key 'train.init_weights': {exc}") from None
    mine, theirs = model.weights, other.weights
    by_path = {w.path: w for w in mine}
    if len(mine) == len(theirs):
        pairs = list(zip(mine, theirs))
    elif len(mine) > len(theirs) and len(by_path) == len(mine) and len({w.path for w in theirs}) == len(theirs):
        missing = [w.path for w in theirs if w.path not in by_path]
        if missing:
            raise ConfigError(f"key 'train.init_weights': {source}: its weight {missing[0]} is not in this config's "
                              f"model; the model may add layers to the source's, not drop or rename them")
        pairs = [(by_path[w.path], w) for w in theirs]
    else:
        raise ConfigError(f"key 'train.init_weights': {source}: its model has {len(theirs)} weight tensors, this "
                          f"config's model {len(mine)}; the architectures differ")
    for i, (a, b) in enumerate(pairs):
        if tuple(a.shape) != tuple(b.shape):
            raise ConfigError(f"key 'train.init_weights': {source}: weight {i} ({b.path}) has shape {tuple(b.shape)}, "
                              f"this config's model wants {tuple(a.shape)} ({a.path}); the architectures differ")
    for a, b in pairs:
        a.assign(b)
    loaded = {id(a) for a, _ in pairs}
    return [w.path for w in mine if id(w) not in loaded]
