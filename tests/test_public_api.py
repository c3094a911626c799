"""The package's public face (issue 24): at most 30 top-level names, each importable and each
the object its defining module holds; every submodule is a plain module (no module-class
trick binds a function over a submodule of the same name)."""

import importlib
import pkgutil
import types

import pytest

import encore_jax

SUBMODULES = sorted(
    info.name for info in pkgutil.walk_packages(encore_jax.__path__, prefix="encore_jax.")
    if not info.name.rsplit(".", 1)[-1].startswith("__")  # __main__ modules run on import
)


def test_top_level_exports_at_most_30_names_each_importable():
    assert len(encore_jax.__all__) <= 30, len(encore_jax.__all__)
    assert len(set(encore_jax.__all__)) == len(encore_jax.__all__)
    namespace: dict[str, object] = {}
    exec("from encore_jax import *", namespace)  # noqa: S102 (the star import users may write)
    assert set(encore_jax.__all__) <= set(namespace)
    for name in encore_jax.__all__:
        module = importlib.import_module(f"encore_jax.{encore_jax._MODULE_OF[name]}")
        assert getattr(encore_jax, name) is getattr(module, name) is namespace[name], name


def test_the_package_is_a_plain_module():
    assert type(encore_jax) is types.ModuleType


@pytest.mark.parametrize("name", SUBMODULES)
def test_every_submodule_imports_as_a_module(name):
    module = importlib.import_module(name)
    assert isinstance(module, types.ModuleType) and module.__name__ == name
    parent, _, leaf = name.rpartition(".")
    # The attribute of the parent package is the module itself, e.g. encore_jax.compose.
    assert getattr(importlib.import_module(parent), leaf) is module


def test_import_as_gives_the_module_even_where_a_function_shares_its_name():
    import encore_jax.compose as m

    assert isinstance(m, types.ModuleType) and callable(m.compose)
    assert encore_jax.compose is m


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        encore_jax.no_such_name  # noqa: B018
