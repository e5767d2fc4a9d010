"""GeoTIFF layers stacked on one grid (a thin wrapper on rasterio).

* :func:`read_grid` / :class:`RasterGrid` -- CRS, affine transform and shape of a file.
* :func:`stack_rasters` -- read several single-band GeoTIFFs into one ``[H, W, C]``
  float32 array with a validity mask. By default every file must share the reference
  grid exactly (same CRS, transform and shape); a mismatch raises
  :class:`RasterGridError` naming the odd file and what differs. With
  ``resampling="nearest"|"bilinear"|...`` layers on another grid are warped onto the
  reference grid with :func:`rasterio.warp.reproject` (nodata honoured on both sides).
* :func:`normalise` -- optional ``log1p`` per layer, then z-scores from statistics of
  the valid pixels of a region (e.g. the training blocks only).
* :func:`patch_origins` -- the upper-left corners of the patches to cut.
* :func:`write_geotiff` -- write a band on a :class:`RasterGrid` (same CRS, transform,
  nodata), e.g. a predicted risk map on the input grid.
* :func:`open_raster` -- ``rasterio.open`` whose read errors become :class:`RasterReadError`.

Errors: every reader here raises :class:`RasterReadError` (a :class:`RasterGridError`,
hence a :class:`sciarch.config.ConfigError`) with ONE line naming the file and the reason
when a file is missing, is not a raster, or has truncated / corrupt pixel data; the CLI
prints it as ``error: <file>: <reason>`` and exits with status 2.

Example:
    >>> import numpy as np, tempfile, os
    >>> from rasterio.transform import from_origin
    >>> from sciarch.io.raster import RasterGrid, write_geotiff, stack_rasters
    >>> d = tempfile.mkdtemp()
    >>> grid = RasterGrid("EPSG:3395", from_origin(0, 90, 30, 30), 3, 3)
    >>> a = write_geotiff(os.path.join(d, "a.tif"), np.arange(9.).reshape(3, 3), grid, nodata=-1)
    >>> b = write_geotiff(os.path.join(d, "b.tif"), np.full((3, 3), -1.), grid, nodata=-1)
    >>> s = stack_rasters([a, b])
    >>> s.data.shape, int(s.valid[..., 1].sum())
    ((3, 3, 2), 0)
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from sciarch.config import ConfigError

try:  # rasterio is an optional dependency (``pip install sciarch[ecorisk]``)
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.warp import reproject
    from rasterio.windows import Window
    from rasterio.errors import RasterioError
    from rasterio._err import CPLE_BaseError

    #: what rasterio / GDAL raise on unreadable files (a corrupt header can also ask numpy for an
    #: impossible array: MemoryError / OverflowError)
    _READ_ERRORS: tuple = (RasterioError, CPLE_BaseError, MemoryError, OverflowError)
except ImportError as _exc:  # pragma: no cover
    rasterio = None
    _IMPORT_ERROR = _exc
    _READ_ERRORS = ()


class RasterGridError(ConfigError):
    """Rasters that should share one grid do not (the message names the file and the field)."""


class RasterReadError(RasterGridError):
    """A raster file cannot be read: missing, not a raster, truncated or corrupt (one line naming the file)."""


def _reason(exc: BaseException) -> str:
    """The most specific GDAL message of ``exc`` (rasterio chains the GDAL error as the cause), one line."""
    msgs = []
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        m = str(e).strip()
        if m and "See previous exception" not in m:
            msgs.append(m)
        e = e.__cause__ or e.__context__
    if not msgs:
        msgs = [type(exc).__name__]
    text = msgs[-1] if len(msgs) > 1 else msgs[0]
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


@contextmanager
def open_raster(path: str | Path) -> Iterator["rasterio.io.DatasetReader"]:
    """``rasterio.open(path)`` for reading; any rasterio / GDAL error while opening OR reading
    inside the ``with`` block is raised as :class:`RasterReadError` naming ``path``."""
    _need_rasterio()
    path = Path(path)
    if not path.is_file():
        raise RasterReadError(f"{path}: raster file not found")
    try:
        with rasterio.open(path) as src:
            yield src
    except RasterGridError:
        raise
    except _READ_ERRORS as exc:
        raise RasterReadError(f"{path}: unreadable raster (truncated, corrupt or not a GeoTIFF): "
                              f"{_reason(exc)}") from None


def _need_rasterio():
    if rasterio is None:  # pragma: no cover
        raise ImportError(f"sciarch.io.raster needs rasterio: pip install 'sciarch[ecorisk]' ({_IMPORT_ERROR})")


@dataclass(frozen=True)
class RasterGrid:
    """A raster grid: coordinate reference system, affine transform and size.

    Args:
        crs: anything ``rasterio.crs.CRS.from_user_input`` accepts ("EPSG:3395", a CRS).
        transform: ``affine.Affine`` pixel -> map transform of the upper-left corner.
        width: number of columns.
        height: number of rows.
    """

    crs: object
    transform: object
    width: int
    height: int

    @property
    def shape(self) -> tuple[int, int]:
        return (self.height, self.width)

    def crs_obj(self):
        _need_rasterio()
        return rasterio.crs.CRS.from_user_input(self.crs)

    def differences(self, other: "RasterGrid", atol: float = 1e-6) -> list[str]:
        """Human-readable list of what differs between two grids (empty if identical)."""
        out = []
        if self.crs_obj() != other.crs_obj():
            out.append(f"CRS {other.crs_obj().to_string()} != {self.crs_obj().to_string()}")
        if (self.height, self.width) != (other.height, other.width):
            out.append(f"shape {other.height}x{other.width} != {self.height}x{self.width} (rows x cols)")
        if not other.transform.almost_equals(self.transform, precision=atol):
            o, s = other.transform, self.transform
            out.append(f"transform (origin {o.c:.3f},{o.f:.3f} pixel {o.a:g}x{o.e:g}) != "
                       f"(origin {s.c:.3f},{s.f:.3f} pixel {s.a:g}x{s.e:g})")
        return out

    def window(self, col_off: int, row_off: int, width: int, height: int) -> "RasterGrid":
        """The sub-grid of a pixel window."""
        _need_rasterio()
        t = rasterio.windows.transform(Window(col_off, row_off, width, height), self.transform)
        return RasterGrid(self.crs, t, int(width), int(height))

    def rescaled(self, factor: float) -> "RasterGrid":
        """Same extent and origin, pixels ``factor`` times larger (``factor`` > 1 coarsens)."""
        t = self.transform @ self.transform.scale(factor, factor)
        return RasterGrid(self.crs, t, int(round(self.width / factor)), int(round(self.height / factor)))

    def xy_to_rowcol(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates -> integer (row, col) of the containing pixel."""
        inv = ~self.transform
        cols, rows = inv @ (np.asarray(x, float), np.asarray(y, float))
        return np.floor(rows).astype(np.int64), np.floor(cols).astype(np.int64)


def read_grid(path: str | Path) -> RasterGrid:
    """The grid of a raster file; raises ``RasterGridError`` naming the file if it cannot be read."""
    with open_raster(path) as src:
        if src.crs is None:
            raise RasterGridError(f"{path}: raster has no CRS")
        if src.count < 1:
            raise RasterReadError(f"{path}: raster has no band")
        return RasterGrid(src.crs, src.transform, src.width, src.height)


@dataclass
class RasterStack:
    """Layers on one grid.

    Attributes:
        data: float32 ``[H, W, C]``; nodata pixels hold NaN.
        valid: bool ``[H, W, C]``; False where a layer is nodata (or outside its extent).
        names: layer names (C of them), e.g. the file stems.
        grid: the common :class:`RasterGrid`.
        nodata: the nodata value of each source file (None if it declares none).
        paths: the source files.
    """

    data: np.ndarray
    valid: np.ndarray
    names: list[str]
    grid: RasterGrid
    nodata: list[float | None] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def layer(self, name: str) -> np.ndarray:
        if name not in self.names:
            raise KeyError(f"no layer '{name}' in stack (layers: {', '.join(self.names)})")
        return self.data[..., self.names.index(name)]

    def layer_valid(self, name: str) -> np.ndarray:
        return self.valid[..., self.names.index(name)]

    def select(self, names: Sequence[str]) -> "RasterStack":
        idx = []
        for n in names:
            if n not in self.names:
                raise KeyError(f"no layer '{n}' in stack (layers: {', '.join(self.names)})")
            idx.append(self.names.index(n))
        return RasterStack(self.data[..., idx], self.valid[..., idx], list(names), self.grid,
                           [self.nodata[i] for i in idx], [self.paths[i] for i in idx])


_RESAMPLING = ("nearest", "bilinear", "cubic", "average", "mode", "min", "max")


def stack_rasters(
    paths: Sequence[str | Path],
    names: Sequence[str] | None = None,
    reference: str | Path | RasterGrid | None = None,
    resampling: str | dict[str, str] | None = None,
    window: tuple[int, int, int, int] | None = None,
    scale: float = 1.0,
) -> RasterStack:
    """Read single-band GeoTIFFs into one ``[H, W, C]`` float32 stack on a common grid.

    Args:
        paths: the files, one layer each (band 1 is read).
        names: layer names; default the file stems.
        reference: the grid to stack on (a file or a :class:`RasterGrid`); default the
            grid of ``paths[0]``.
        resampling: None (strict: every file must have the reference grid, else
            :class:`RasterGridError` naming the odd file), a rasterio resampling name
            used for every layer whose grid differs, or a dict ``{layer name: name}``
            (layers missing from the dict must match exactly). CRS must still agree
            unless a resampling is given for that layer (then it is reprojected).
        window: ``(col_off, row_off, width, height)`` on the reference grid (after ``scale``).
        scale: coarsen the reference grid by this factor (e.g. 3 turns 30 m into 90 m);
            needs ``resampling`` for the layers (each is resampled onto the coarse grid).

    Returns:
        A :class:`RasterStack`; pixels equal to a file's nodata (or NaN) are invalid.
    """
    _need_rasterio()
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("stack_rasters: no files given")
    names = list(names) if names is not None else [p.stem for p in paths]
    if len(names) != len(paths):
        raise ValueError(f"stack_rasters: {len(names)} names for {len(paths)} files")
    if len(set(names)) != len(names):
        raise ValueError(f"stack_rasters: duplicate layer names {names}")
    grids = [read_grid(p) for p in paths]
    if isinstance(reference, RasterGrid):
        ref, ref_name = reference, "the reference grid"
    elif reference is not None:
        ref, ref_name = read_grid(reference), str(reference)
    else:
        ref, ref_name = grids[0], str(paths[0])
    base = ref
    if scale != 1.0:
        if scale <= 0:
            raise ValueError(f"stack_rasters: scale must be > 0, got {scale}")
        ref = ref.rescaled(scale)
    if window is not None:
        col_off, row_off, w, h = (int(v) for v in window)
        if col_off < 0 or row_off < 0 or w <= 0 or h <= 0 or col_off + w > ref.width or row_off + h > ref.height:
            raise ValueError(f"stack_rasters: window {window} is outside the {ref.height}x{ref.width} grid")
        ref = ref.window(col_off, row_off, w, h)

    def method_for(name):
        if isinstance(resampling, dict):
            return resampling.get(name)
        return resampling

    for name, g, p in zip(names, grids, paths):
        m = method_for(name)
        if m is not None and m not in _RESAMPLING:
            raise ValueError(f"stack_rasters: layer '{name}': unknown resampling '{m}' (one of {_RESAMPLING})")
        if m is None:
            diff = base.differences(g)
            if diff:
                raise RasterGridError(
                    f"{p}: grid does not match {ref_name}: " + "; ".join(diff)
                    + " (pass resampling=... to warp it onto the reference grid)")
            if scale != 1.0:
                raise RasterGridError(f"{p}: scale={scale} needs a resampling method for layer '{name}'")

    h, w = ref.shape
    data = np.empty((h, w, len(paths)), np.float32)
    valid = np.empty((h, w, len(paths)), bool)
    nodatas: list[float | None] = []
    for i, (name, g, p) in enumerate(zip(names, grids, paths)):
        m = method_for(name)
        with open_raster(p) as src:
            nod = src.nodata
            nodatas.append(None if nod is None else float(nod))
            if m is None:
                if window is not None:
                    arr = src.read(1, window=Window(*window))
                else:
                    arr = src.read(1)
                arr = arr.astype(np.float64)
                ok = np.isfinite(arr)
                if nod is not None:
                    ok &= ~np.isclose(arr, float(nod), rtol=0, atol=abs(float(nod)) * 1e-6)
            else:
                src_win, src_transform = None, src.transform
                if src.crs == ref.crs_obj():  # read only the part of the file under the target grid
                    left, top = ref.transform @ (0, 0)
                    right, bottom = ref.transform @ (ref.width, ref.height)
                    win = rasterio.windows.from_bounds(min(left, right), min(top, bottom), max(left, right),
                                                       max(top, bottom), transform=src.transform)
                    c0 = max(int(np.floor(win.col_off)) - 2, 0)
                    r0 = max(int(np.floor(win.row_off)) - 2, 0)
                    c1 = min(int(np.ceil(win.col_off + win.width)) + 2, src.width)
                    r1 = min(int(np.ceil(win.row_off + win.height)) + 2, src.height)
                    if c1 > c0 and r1 > r0:
                        src_win = Window(c0, r0, c1 - c0, r1 - r0)
                        src_transform = src.window_transform(src_win)
                src_arr = src.read(1, window=src_win).astype(np.float64)
                src_ok = np.isfinite(src_arr)
                if nod is not None:
                    src_ok &= ~np.isclose(src_arr, float(nod), rtol=0, atol=abs(float(nod)) * 1e-6)
                src_arr = np.where(src_ok, src_arr, np.nan)
                arr = np.full((h, w), np.nan, np.float64)
                reproject(source=src_arr, destination=arr, src_transform=src_transform, src_crs=src.crs,
                          src_nodata=np.nan, dst_transform=ref.transform, dst_crs=ref.crs_obj(),
                          dst_nodata=np.nan, resampling=getattr(Resampling, m))
                ok = np.isfinite(arr)
        data[..., i] = np.where(ok, arr, np.nan).astype(np.float32)
        valid[..., i] = ok
    return RasterStack(data, valid, names, ref, nodatas, paths)


def normalise(
    data: np.ndarray,
    valid: np.ndarray,
    region: np.ndarray | None = None,
    log: Sequence[bool] | None = None,
    stats: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """z-score each layer of ``data [..., C]`` (after optional ``log1p``); invalid -> 0.

    Args:
        data: float array ``[..., C]``.
        valid: bool, same shape.
        region: bool mask (shape of ``data[..., 0]``) of the pixels whose statistics are used
            (e.g. training blocks); default all valid pixels.
        log: per layer, whether to apply ``log1p(max(x, 0))`` first.
        stats: ``{"mean": [...], "std": [...], "log": [...]}`` from an earlier call (reuse the
            training statistics on validation/test data).

    Returns:
        ``(normalised float32 array, stats)``.
    """
    c = data.shape[-1]
    if stats is None:
        log = [False] * c if log is None else [bool(v) for v in log]
        if len(log) != c:
            raise ValueError(f"normalise: {len(log)} log flags for {c} layers")
    else:
        log = list(stats["log"])
    x = data.astype(np.float32, copy=True)
    for i in range(c):
        if log[i]:
            x[..., i] = np.log1p(np.maximum(x[..., i], 0.0))
    if stats is None:
        means, stds = [], []
        for i in range(c):
            sel = valid[..., i] if region is None else (valid[..., i] & region)
            v = x[..., i][sel]
            if v.size == 0:
                raise ValueError(f"normalise: layer {i} has no valid pixel in the region")
            means.append(float(v.mean()))
            sd = float(v.std())
            stds.append(sd if sd > 0 else 1.0)
        stats = {"mean": means, "std": stds, "log": log}
    m = np.asarray(stats["mean"], np.float32)
    s = np.asarray(stats["std"], np.float32)
    x = (x - m) / s
    x[~valid] = 0.0
    return x.astype(np.float32), stats


def patch_origins(region: np.ndarray, size: int, stride: int | None = None, min_fraction: float = 0.05) -> np.ndarray:
    """Upper-left ``(row, col)`` of the ``size x size`` patches on a regular grid whose
    share of ``region`` pixels is at least ``min_fraction``; ``[N, 2]`` int array.

    The last row/column of patches is shifted inwards so the whole raster is covered.
    """
    h, w = region.shape
    if size > h or size > w:
        raise ValueError(f"patch_origins: patch size {size} is larger than the {h}x{w} raster")
    stride = stride or size
    rows = list(range(0, h - size + 1, stride))
    cols = list(range(0, w - size + 1, stride))
    if rows[-1] != h - size:
        rows.append(h - size)
    if cols[-1] != w - size:
        cols.append(w - size)
    integ = np.pad(np.cumsum(np.cumsum(region.astype(np.int64), 0), 1), ((1, 0), (1, 0)))
    out = []
    need = min_fraction * size * size
    for r in rows:
        for c in cols:
            n = integ[r + size, c + size] - integ[r, c + size] - integ[r + size, c] + integ[r, c]
            if n > 0 and n >= need:
                out.append((r, c))
    return np.asarray(out, np.int64).reshape(-1, 2)


def write_geotiff(path: str | Path, array: np.ndarray, grid: RasterGrid, nodata: float | None = None,
                  dtype: str = "float32", valid: np.ndarray | None = None, cog: bool = False,
                  blocksize: int = 512, overview_resampling: str = "average") -> Path:
    """Write a 2-D ``array`` on ``grid`` (CRS, transform, size) as a DEFLATE GeoTIFF.

    Pixels where ``valid`` is False (or that are NaN) get ``nodata``. ``cog=True`` writes a
    Cloud-Optimized GeoTIFF (GDAL's COG driver: ``blocksize`` x ``blocksize`` tiles, internal
    overviews down to one tile, resampled with ``overview_resampling`` ignoring nodata).
    """
    _need_rasterio()
    path = Path(path)
    array = np.asarray(array)
    if array.shape != grid.shape:
        raise ValueError(f"{path}: array shape {array.shape} does not match grid {grid.shape}")
    out = array.astype(dtype, copy=True)
    bad = ~np.isfinite(array.astype(np.float64))
    if valid is not None:
        bad |= ~valid
    if bad.any():
        if nodata is None:
            raise ValueError(f"{path}: {int(bad.sum())} invalid pixels but no nodata value given")
        out[bad] = nodata
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(driver="GTiff", width=grid.width, height=grid.height, count=1, dtype=dtype,
                   crs=grid.crs_obj(), transform=grid.transform, nodata=nodata, compress="deflate")
    if not cog:
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(out, 1)
        return path
    from rasterio.io import MemoryFile
    from rasterio.shutil import copy as rio_copy

    with MemoryFile() as mem:
        with mem.open(**profile) as tmp:
            tmp.write(out, 1)
        with mem.open() as tmp:
            rio_copy(tmp, path, driver="COG", compress="deflate", blocksize=int(blocksize),
                     overview_resampling=overview_resampling, overviews="auto")
    return path
