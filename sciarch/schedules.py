"""Learning-rate schedules of ``train.lr_schedule``, step-based and serialisable.

A schedule is a function of ``optimizer.iterations`` (the number of finished training
steps). BackupAndRestore restores that counter, so a run resumed after ``kill -9``
continues the schedule exactly where the uninterrupted run would be. The total length of
a schedule is ``train.epochs * steps_per_epoch``, with ``steps_per_epoch`` known when
``fit`` starts (``train.steps_per_epoch``, or the size of the training split).

``warmup_cosine``
    linear warm-up from ``peak / W`` to ``peak`` over the first ``W`` steps
    (``lr(s) = peak * (s + 1) / W`` for ``s < W``), then a half cosine from ``peak`` down
    to ``peak * min_lr_ratio`` at the last step.
``one_cycle``
    half-cosine rise from ``peak * start_lr_ratio`` to ``peak`` over the first ``W`` steps
    (30 % of training when ``warmup_epochs`` is 0), then a half cosine down to
    ``peak * min_lr_ratio`` (Smith & Topin, 2019, without momentum cycling).
``constant``
    ``train.learning_rate`` throughout; with ``warmup_epochs`` > 0, the linear warm-up of
    ``warmup_cosine`` followed by the constant rate.

Example:
    >>> s = WarmupCosine(peak_lr=1e-3, total_steps=100, warmup_steps=10, min_lr_ratio=0.1)
    >>> round(float(s(4)), 6), round(float(s(10)), 6), round(float(s(100)), 6)
    (0.0005, 0.001, 0.0001)
"""

from __future__ import annotations

import math

import keras
from keras import ops

from sciarch.errors import ConfigError


def _cosine(progress, begin, end):
    """``begin`` at progress 0 to ``end`` at progress 1 along a half cosine."""
    return end + (begin - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))


@keras.saving.register_keras_serializable(package="sciarch")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to ``peak_lr`` over ``warmup_steps``, then cosine decay to ``peak_lr * min_lr_ratio``.

    ``min_lr_ratio=1`` makes it a warm-up followed by a constant rate.
    """

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int = 0, min_lr_ratio: float = 0.0):
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step):
        s = ops.cast(step, "float32")
        peak, w = self.peak_lr, float(self.warmup_steps)
        low = peak * self.min_lr_ratio
        decay_len = max(1.0, float(self.total_steps) - w)
        progress = ops.clip((s - w) / decay_len, 0.0, 1.0)
        decayed = _cosine(progress, peak, low)
        if self.warmup_steps <= 0:
            return decayed
        warm = peak * (s + 1.0) / w
        return ops.where(s < w, warm, decayed)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "min_lr_ratio": self.min_lr_ratio}


@keras.saving.register_keras_serializable(package="sciarch")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine rise from ``peak_lr * start_lr_ratio`` to ``peak_lr`` over ``warmup_steps``, cosine fall to
    ``peak_lr * min_lr_ratio`` at ``total_steps``."""

    def __init__(self, peak_lr: float, total_steps: int, warmup_steps: int, start_lr_ratio: float = 0.04,
                 min_lr_ratio: float = 0.0):
        self.peak_lr = float(peak_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.start_lr_ratio = float(start_lr_ratio)
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step):
        s = ops.cast(step, "float32")
        peak, w = self.peak_lr, float(max(1, self.warmup_steps))
        rise = _cosine(ops.clip(s / w, 0.0, 1.0), peak * self.start_lr_ratio, peak)
        fall = _cosine(ops.clip((s - w) / max(1.0, float(self.total_steps) - w), 0.0, 1.0), peak,
                       peak * self.min_lr_ratio)
        return ops.where(s < w, rise, fall)

    def get_config(self):
        return {"peak_lr": self.peak_lr, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps,
                "start_lr_ratio": self.start_lr_ratio, "min_lr_ratio": self.min_lr_ratio}


def build_learning_rate(train, steps_per_epoch: int | None):
    """``train.learning_rate`` as a float, or the schedule ``train.lr_schedule`` asks for.

    Raises:
        ConfigError: a schedule needs ``steps_per_epoch`` and it is unknown.
    """
    sched = train.lr_schedule
    if sched.name == "constant" and not sched.warmup_epochs:
        return float(train.learning_rate)
    if steps_per_epoch is None or steps_per_epoch <= 0:
        raise ConfigError(
            f"key 'train.lr_schedule': schedule '{sched.name}' needs the number of steps per epoch, but the "
            "training split's size is unknown; set train.steps_per_epoch"
        )
    total = int(train.epochs * steps_per_epoch)
    warmup = int(round(sched.warmup_epochs * steps_per_epoch))
    if sched.name == "one_cycle":
        return OneCycle(train.learning_rate, total, warmup or max(1, int(round(0.3 * total))),
                        start_lr_ratio=sched.start_lr_ratio, min_lr_ratio=sched.min_lr_ratio)
    ratio = 1.0 if sched.name == "constant" else sched.min_lr_ratio
    return WarmupCosine(train.learning_rate, total, warmup, min_lr_ratio=ratio)
