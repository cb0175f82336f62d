"""Memoizing expensive objects (pipelines, sub-models) by their creation parameters.

Each named cache (``pipeline``, and one per declared sub-model slot) maps a key describing how
an object was created to the object, so a later invocation in the same process
that asks for the same model gets the same object instead of loading it again.
When memory runs short, the least recently used entries of all caches are
dropped before a new object is created. Memory is counted per device: an object
about to be created on a GPU makes room by dropping the objects that live on that
GPU now (asked of each object's ``device``, as pipelines and models move), and
one created in host memory by dropping those in host memory.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import os
from collections.abc import Callable, Hashable
from typing import Any

__all__ = ["CacheRegistry", "ObjectCache", "available_memory", "device_memory"]

#: Keep at least this much memory free for the work itself after loading.
DEFAULT_RESERVE = 2 * 1024**3
#: The cache that always exists; the others are named after the sub-model slots model
#: types declare (``unet``, ``vae`` ...), so that scripts may name them before first use.
STANDARD_CACHES = ("pipeline",)


def available_memory() -> int:
    """Bytes of memory the system can still hand out (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - exotic platforms
        return 1 << 62


def device_memory(device: str) -> int:
    """Bytes free on ``device``: host memory for the CPU (and devices sharing it, such as
    mps), the free memory of a CUDA or XPU device as torch reports it."""
    if device.split(":")[0] not in ("cuda", "xpu"):
        return available_memory()
    import torch  # an object lives on a GPU only once torch is in use

    return getattr(torch, device.split(":")[0]).mem_get_info(torch.device(device))[0]


def _normalized(device: str) -> str:
    """``cuda`` is ``cuda:0``; mps shares host memory, so it counts as the CPU."""
    return "cpu" if device.split(":")[0] in ("cpu", "mps", "meta") else (
        device if ":" in device else device + ":0")


def _device_of(value: Any) -> str:
    """Where ``value`` lives now: its ``device`` (pipelines, models) or host memory."""
    return _normalized(str(getattr(value, "device", "cpu")))


@dataclasses.dataclass
class _Entry:
    value: Any
    size: int


class ObjectCache:
    """One named cache; entries are evicted through the registry that owns it."""

    def __init__(self, name: str, registry: CacheRegistry) -> None:
        self.name = name
        self._registry = registry
        self._entries: collections.OrderedDict[Hashable, _Entry] = collections.OrderedDict()
        self.hits = 0
        self.misses = 0

    def get_or_create(self, key: Hashable, create: Callable[[], Any], *,
                      size: int | None = None, device: str = "cpu") -> Any:
        entry = self._entries.get(key)
        if entry is not None:
            self.hits += 1
            self._registry.touch(self, key)
            self._registry.debug(f"cache hit in {self.name!r}: {key!r}")
            return entry.value
        self.misses += 1
        self._registry.debug(f"cache miss in {self.name!r}: {key!r}")
        self._registry.make_room(size or 0, _normalized(device))
        value = create()
        self._entries[key] = _Entry(value, size or 0)
        self._registry.touch(self, key)
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return sum(entry.size for entry in self._entries.values())

    def evict(self, key: Hashable) -> None:
        self._entries.pop(key, None)
        self._registry.forget(self, key)

    def clear(self) -> None:
        for key in list(self._entries):
            self.evict(key)


class CacheRegistry:
    """All named caches of a process, with one least-recently-used order across them."""

    def __init__(self, *, reserve: int = DEFAULT_RESERVE,
                 memory: Callable[[str], int] = device_memory,
                 debug: Callable[[str], None] | None = None) -> None:
        self.reserve = reserve
        self._memory = memory
        self._debug = debug
        self._caches: dict[str, ObjectCache] = {}
        for name in STANDARD_CACHES:
            self.cache(name)
        self._order: collections.OrderedDict[tuple[str, Hashable], None] = (
            collections.OrderedDict())

    def cache(self, name: str) -> ObjectCache:
        if name not in self._caches:
            self._caches[name] = ObjectCache(name, self)
        return self._caches[name]

    def names(self) -> list[str]:
        return sorted(self._caches)

    def debug(self, message: str) -> None:
        if self._debug is not None:
            self._debug(message)

    def touch(self, cache: ObjectCache, key: Hashable) -> None:
        self._order.pop((cache.name, key), None)
        self._order[(cache.name, key)] = None

    def forget(self, cache: ObjectCache, key: Hashable) -> None:
        self._order.pop((cache.name, key), None)

    def make_room(self, size: int, device: str = "cpu") -> None:
        """Evict least recently used entries living on ``device`` until ``size`` more bytes
        fit there above the reserve."""
        while self._memory(device) - size < self.reserve and (oldest := next((
                (name, key) for name, key in self._order
                if _device_of(self._caches[name]._entries[key].value) == device), None)):
            self.debug(f"evicting {oldest[1]!r} from cache {oldest[0]!r} to free memory on "
                       f"{device}")
            del self._order[oldest]
            self._caches[oldest[0]]._entries.pop(oldest[1], None)
            gc.collect()
            if device != "cpu":  # give the freed blocks back to the driver
                getattr(__import__("torch"), device.split(":")[0]).empty_cache()

    def clear(self, names: list[str] | None = None) -> None:
        for name in names or list(self._caches):
            if name in self._caches:
                self._caches[name].clear()
        gc.collect()
