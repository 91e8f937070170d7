"""`childsafe.media`'s public names."""

from __future__ import annotations

import childsafe.media
import childsafe.testing.media
from childsafe.exceptions import ChildsafeError


def test_all_is_sorted_and_complete() -> None:
    """`__all__` is sorted (constants, classes, functions) and names every public name."""
    for module in (childsafe.media, childsafe.testing.media):
        names = module.__all__
        assert names == sorted(names, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
        public = {
            n
            for n in dir(module)
            if not n.startswith("_") and type(getattr(module, n)).__name__ != "module"
        }
        public -= {"annotations", "TYPE_CHECKING", "Final", "Path", "io", "random", "threading"}
        public -= {"Classification", "load_image"} if module is childsafe.testing.media else set()
        assert public == set(names), module.__name__


def test_classes_live_in_childsafe_media() -> None:
    """Public classes say they live in `childsafe.media`, and every error derives from
    ChildsafeError."""
    for name in childsafe.media.__all__:
        obj = getattr(childsafe.media, name)
        if isinstance(obj, type):
            assert obj.__module__ == "childsafe.media", name
            if issubclass(obj, BaseException):
                assert issubclass(obj, ChildsafeError), name
