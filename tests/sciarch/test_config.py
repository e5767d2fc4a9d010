"""Config loading: validation errors name the key, overrides are type-checked."""

import pytest

from sciarch.config import ConfigError, load_config, parse_overrides

pytest.importorskip("tests.fixtures.blobs_pipeline")

import tests.fixtures.blobs_pipeline  # noqa: E402,F401  (registers 'blobs')

BASE = """\
pipeline: blobs
data:
  n_train: 64
train:
  epochs: 2
"""


def write(tmp_path, text, name="c.yaml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_valid_config_and_defaults(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.data.n_train == 64
    assert cfg.train.epochs == 2
    assert cfg.train.batch_size == 32  # default
    assert cfg.loss.name == "default"


def test_unknown_key_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, BASE + "  n_epochs: 3\n".replace("  n_epochs", "  epocs")))
    msg = str(exc.value)
    assert "train.epocs" in msg and "unknown key" in msg
    assert "did you mean 'train.epochs'" in msg
    assert "\n" not in msg


def test_unknown_section_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'data\.n_trian'"):
        load_config(write(tmp_path, BASE.replace("n_train", "n_trian")))


def test_wrong_type_names_key_and_value(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, BASE.replace("epochs: 2", "epochs: many")))
    assert "train.epochs" in str(exc.value) and "'many'" in str(exc.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_bad_yaml_reports_line(tmp_path):
    with pytest.raises(ConfigError, match=r"c.yaml: line \d+ invalid YAML"):
        load_config(write(tmp_path, "pipeline: blobs\ndata: [1, \n"))


def test_overrides_apply_with_type_checks(tmp_path):
    path = write(tmp_path, BASE)
    cfg = load_config(path, ["train.epochs=7", "model.hidden=3", "loss.params.pos_weight=2.5"])
    assert cfg.train.epochs == 7 and cfg.model.hidden == 3
    assert cfg.loss.params == {"pos_weight": 2.5}
    with pytest.raises(ConfigError, match="train.learning_rate"):
        load_config(path, ["train.learning_rate=fast"])
    with pytest.raises(ConfigError, match="unknown key 'train.nope'"):
        load_config(path, ["train.nope=1"])
    with pytest.raises(ConfigError, match="expected KEY.SUB=VALUE"):
        load_config(path, ["train.epochs"])


def test_parse_overrides_nested():
    assert parse_overrides(["a.b.c=1", "a.d=x", "e=[1, 2]"]) == {"a": {"b": {"c": 1}, "d": "x"}, "e": [1, 2]}


def test_pipeline_mismatch_and_unknown(tmp_path):
    with pytest.raises(ConfigError, match="asked for 'other'"):
        load_config(write(tmp_path, BASE), pipeline="other")
    with pytest.raises(ConfigError, match="unknown pipeline 'nope'"):
        load_config(write(tmp_path, BASE.replace("blobs", "nope")))
