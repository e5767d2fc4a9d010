"""Property-based tests of the config loader: whatever the bytes of a YAML file, loading it
either gives a valid config or raises one-line :class:`ConfigError` -- never another exception."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sciarch.config import ConfigError, PipelineConfig, load_config

ROOT = Path(__file__).resolve().parents[2]
QUICK = (ROOT / "configs" / "genomics" / "quick.yaml").read_bytes()
SETTINGS = dict(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _load(tmp_path, data: bytes, overrides=None):
    path = tmp_path / "c.yaml"
    path.write_bytes(data)
    try:
        cfg = load_config(path, overrides, pipeline="genomics")
    except ConfigError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg and "\r" not in msg, repr(msg)
        return None
    assert isinstance(cfg, PipelineConfig)
    return cfg


def test_the_real_quick_config_loads(tmp_path):
    assert _load(tmp_path, QUICK) is not None


@settings(**SETTINGS)
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path, data):
    _load(tmp_path, data)


@settings(**SETTINGS)
@given(cut=st.integers(min_value=0, max_value=len(QUICK)))
def test_truncations(tmp_path, cut):
    _load(tmp_path, QUICK[:cut])


@settings(**SETTINGS)
@given(edits=st.lists(st.tuples(st.integers(0, len(QUICK) - 1), st.binary(min_size=0, max_size=3)),
                      min_size=1, max_size=4))
def test_random_edits(tmp_path, edits):
    data = bytearray(QUICK)
    for pos, repl in edits:
        pos = min(pos, len(data))
        data[pos:pos + 1] = repl
    _load(tmp_path, bytes(data))


@settings(**SETTINGS)
@given(key=st.sampled_from(["train.epochs", "train.learning_rate", "data.context", "model.dropout", "seed",
                            "train.tensorboard", "data.pieces", "data.mode", "loss.params", "nosuch.key"]),
       value=st.one_of(st.text(max_size=12), st.sampled_from(["true", "1.5", "[1, 2]", "{a: 1}", "null", "-3",
                                                               "0x10", "2001-13-45", "!!binary AA=="])))
def test_random_overrides(tmp_path, key, value):
    _load(tmp_path, QUICK, [f"{key}={value}"])
