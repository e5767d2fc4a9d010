"""Plots shared by reports (matplotlib, Agg backend)."""

from sciarch.viz.plots import new_figure, plot_training_curves, save_figure

__all__ = ["new_figure", "plot_training_curves", "save_figure"]
