"""The generic registry: decorator registration, ordered names, one error for unknown names."""
import pytest

from engine.registry import Registry, UnknownName


def test_decorator_registers_under_the_given_or_own_name_in_order():
    reg = Registry("widget")

    @reg.register("b")
    def second():
        return 2

    class First:
        name = "a"

    reg.register(entry=First)
    assert reg.names() == ["b", "a"]
    assert reg.get("b") is second and reg["a"] is First
    assert "a" in reg and "zz" not in reg and len(reg) == 2


def test_unknown_name_lists_the_choices():
    reg = Registry("widget")
    reg.register("x", entry=1)
    reg.register("y", entry=2)
    with pytest.raises(UnknownName) as err:
        reg.get("z")
    assert str(err.value) == "unknown widget 'z'; choose from: x, y"
    assert isinstance(err.value, ValueError)


def test_registering_a_different_entry_twice_is_refused():
    reg = Registry("widget")
    reg.register("x", entry=1)
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("x", entry=2)


def test_modules_are_imported_on_first_lookup_only(monkeypatch):
    imported = []
    monkeypatch.setattr("importlib.import_module", lambda m: imported.append(m))
    reg = Registry("widget", modules=("some.module",))
    assert imported == []
    reg.names()
    reg.names()
    assert imported == ["some.module"]
