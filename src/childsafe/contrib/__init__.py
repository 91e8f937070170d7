"""Integrations with web frameworks, each behind its extra.

Nothing in the core imports these modules; import the one for your framework, e.g.
``from childsafe.contrib.flask import ChildSafe`` after ``pip install 'childsafe[flask]'``.
"""

from __future__ import annotations
