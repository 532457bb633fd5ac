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


def test_names_follow_the_listed_modules_whichever_was_imported_first(monkeypatch):
    monkeypatch.setattr("importlib.import_module", lambda m: None)
    reg = Registry("widget", modules=("pkg.first", "pkg.second"))
    reg.register("late", entry=1, module="pkg.second")  # its module happened to be imported first
    reg.register("early", entry=2, module="pkg.first")
    reg.register("elsewhere", entry=3, module="pkg.other")
    assert reg.names() == ["early", "late", "elsewhere"]
    assert [k for k, _ in reg.items()] == reg.names()


def test_a_family_validates_and_builds_names_by_pattern():
    reg = Registry("widget")
    reg.register("plain", entry="p")
    reg.register_family("even<2n>", lambda n: f"built {n}" if n.startswith("even") and n[4:].isdigit()
                        and int(n[4:]) % 2 == 0 else None, examples=("even2", "even4"))
    assert reg.get("even10") == "built even10" and "even10" in reg and "even3" not in reg
    assert reg.names() == ["plain", "even2", "even4"]
    assert reg.check("even4") == "even4"
    with pytest.raises(UnknownName, match=r"^unknown widget 'even3'; choose from: plain, "
                                          r"even<2n> \(even2, even4, \.\.\.\)$"):
        reg.get("even3")


def test_a_domain_error_class_is_raised_and_still_an_unknown_name():
    class WidgetError(ValueError):
        pass

    class UnknownWidget(UnknownName, WidgetError):
        pass

    reg = Registry("widget", error=UnknownWidget)
    with pytest.raises(WidgetError, match="unknown widget 'x'; choose from: ") as err:
        reg.get("x")
    assert isinstance(err.value, UnknownName)
    with pytest.raises(TypeError):
        Registry("widget", error=WidgetError)
