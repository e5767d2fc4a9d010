"""Bubble-chamber track detection: physics simulator, two-stage R-CNN and one-stage baseline."""
