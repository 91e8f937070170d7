"""View decorators of the Django integration.

Declare what a view does with :func:`childsafe.action` (it works on Django function
views, class-based views and, through ``method_decorator``, their handler methods).
This module adds what is specific to Django.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

__all__ = ["filter_exempt", "is_filter_exempt"]

V = TypeVar("V", bound=Callable[..., Any])

_EXEMPT_ATTR: Final = "childsafe_filter_exempt"


def filter_exempt(view: V) -> V:
    """Leave a view's JSON responses unfiltered by ``CHILDSAFE["RESPONSE_FILTER"]``.

    Use it for views that return only the requester's own data, or that filter
    themselves. Declared actions are still checked. Like ``csrf_exempt``, it marks the
    view (a function, or a class-based view's class)::

        @filter_exempt
        def me(request): ...
    """
    setattr(view, _EXEMPT_ATTR, True)
    return view


def is_filter_exempt(view: object) -> bool:
    """Whether ``view`` (or, for a class-based view, its class) is :func:`filter_exempt`."""
    return getattr(view, _EXEMPT_ATTR, False) is True or (
        getattr(getattr(view, "view_class", None), _EXEMPT_ATTR, False) is True
    )
