from __future__ import annotations

import childsafe
import childsafe.exceptions


class TestExports:
    def test_all_is_sorted_and_complete(self) -> None:
        """`__all__` is sorted (constants, classes, functions), and every public name is in it."""
        assert childsafe.__all__ == sorted(
            childsafe.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n)
        )
        # `annotations` is the `from __future__` feature; `typing` a helper import.
        public = {n for n in dir(childsafe) if not n.startswith("_")} - {"annotations", "typing"}
        # Submodules are reachable as attributes once imported; they are not exports.
        modules = {n for n in public if type(getattr(childsafe, n)).__name__ == "module"}
        assert public - modules == set(childsafe.__all__)

    def test_classes_present_as_childsafe(self) -> None:
        """Public classes say they live in `childsafe`, not in private modules."""
        for name in childsafe.__all__:
            obj = getattr(childsafe, name)
            if isinstance(obj, type):
                assert obj.__module__ == "childsafe", name

    def test_version(self) -> None:
        """`__version__` comes from the installed distribution."""
        assert childsafe.__version__ == "0.1.0.dev0"

    def test_unknown_attribute(self) -> None:
        """Unknown attributes raise AttributeError as usual."""
        try:
            childsafe.nope  # noqa: B018
        except AttributeError as e:
            assert "nope" in str(e)  # noqa: PT017
        else:
            raise AssertionError("expected AttributeError")

    def test_every_exception_derives_from_the_base(self) -> None:
        """All errors in `childsafe.exceptions` derive from ChildsafeError."""
        for name in childsafe.exceptions.__all__:
            obj = getattr(childsafe.exceptions, name)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                assert issubclass(obj, childsafe.exceptions.ChildsafeError), name
        assert issubclass(childsafe.exceptions.MissingExtraError, ImportError)


def test_configuration_error_without_problems() -> None:
    """A ConfigurationError built with no problems still has a message."""
    assert str(childsafe.exceptions.ConfigurationError([])) == "invalid configuration"
