"""The local screen's progress bar (rich, on stderr): bytes read, molecules, rate, rejects, ETA."""

from __future__ import annotations

__all__ = ["ScreenProgress"]


class ScreenProgress:
    """A rich progress bar over the library's bytes; a no-op when ``enabled`` is false."""

    def __init__(self, enabled: bool, total_bytes: int, label: str):
        self.enabled = enabled
        self._p = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self._p = Progress(
            TextColumn("[bold]screen[/] {task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>5.1f}%"),
            TextColumn("{task.fields[mols]:>12,} mol"),
            TextColumn("{task.fields[rate]:>8,.0f} mol/s"),
            TextColumn("{task.fields[rejected]:>8,} rejected"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self._task = self._p.add_task(label, total=max(total_bytes, 1), mols=0, rate=0.0, rejected=0)
        self._p.start()

    def update(self, bytes_done: int, mols: int, rate: float, rejected: int) -> None:
        if self._p is not None:
            self._p.update(self._task, completed=bytes_done, mols=mols, rate=rate, rejected=rejected)

    def close(self) -> None:
        if self._p is not None:
            self._p.stop()
            self._p = None
