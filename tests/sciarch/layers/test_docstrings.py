"""Every public layer has a docstring with Args and a runnable Example, and the example runs."""

import doctest
import importlib
import inspect

import pytest

import sciarch.layers

MODULES = sorted({cls.__module__ for cls in map(lambda n: getattr(sciarch.layers, n), sciarch.layers.__all__)})


@pytest.mark.parametrize("name", sciarch.layers.__all__)
def test_docstring_has_args_and_example(name):
    cls = getattr(sciarch.layers, name)
    doc = inspect.getdoc(cls)
    assert "Args:" in doc and "Example:" in doc and ">>> from sciarch.layers import" in doc
    # every constructor argument is documented
    params = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "kwargs")]
    missing = [p for p in params if f"{p}:" not in doc]
    assert not missing, f"{name}: undocumented arguments {missing}"
    # and registered for serialisation under the sciarch package
    assert cls.__module__.startswith("sciarch.layers")
    import keras

    assert keras.saving.get_registered_name(cls) == f"sciarch>{name}"


@pytest.mark.parametrize("module", MODULES)
def test_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
