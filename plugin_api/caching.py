"""Keeping loaded models between jobs and invocations, for plugins that load their own.

A plugin created by dgenerate gets a ``context`` whose ``cache(name)`` is one of the
kernel's caches (counted against its memory limits, cleared by ``\\clear_object_cache``
...). A plugin object built without one (in a test, in another program) still keeps what
it loads, in a small cache of this process. :func:`cached` picks the right one.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["cached"]

#: objects kept without a kernel cache, by (cache name, key); least recently used go first
_LOCAL: collections.OrderedDict[tuple[str, Hashable], Any] = collections.OrderedDict()
#: how many objects of one cache name are kept without a kernel cache
LOCAL_LIMIT = 2


def cached(context: Any, name: str, key: Hashable, create: Callable[[], Any], *,
           size: int | None = None, device: str = "cpu") -> Any:
    """The object stored under ``key`` in the cache ``name``, made with ``create()`` the
    first time. ``size`` (bytes) and ``device`` help the kernel cache decide what to drop."""
    cache = getattr(context, "cache", None)
    if callable(cache):
        return cache(name).get_or_create(key, create, size=size, device=device)
    entry = (name, key)
    if entry in _LOCAL:
        _LOCAL.move_to_end(entry)
        return _LOCAL[entry]
    value = _LOCAL[entry] = create()
    same_name = [known for known in _LOCAL if known[0] == name]
    for known in same_name[:-LOCAL_LIMIT]:
        del _LOCAL[known]
    return value
