"""The kernel's implementation of the context protocols handed to plugins
(:class:`~dgenerate.plugin_api.PluginContext` and, while rendering,
:class:`~dgenerate.plugin_api.render.RenderContext`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from dgenerate.plugin_api.args import ArgSpec
from dgenerate.plugin_api.render import ModuleSharing
from dgenerate.plugin_api.specs import Category, PluginSpec

from .manager import PluginManager

__all__ = ["KernelContext"]


def _claims(path: str, overwrite: bool) -> Iterator[str] | None:
    """None to replace ``path``; else the names a new file may be published under."""
    from dgenerate.plugin_api.files import duplicate_names

    return None if overwrite else (str(name) for name in duplicate_names(path))


class KernelContext:
    """Services of one dgenerate invocation.

    The caches and the web cache may be shared between invocations (a config
    script passes the same ones to every line); by default each context makes
    its own when first asked.
    """

    def __init__(self, manager: PluginManager, *, verbose: bool = False,
                 offline_mode: bool = False, caches: Any = None, web_cache: Any = None,
                 sharing: ModuleSharing | None = None) -> None:
        self.manager = manager
        self.sharing = sharing or ModuleSharing()  # \save_modules, \use_modules
        self._verbose = verbose
        self._offline_mode = offline_mode
        self._caches = caches
        self._web_cache = web_cache

    @property
    def verbose(self) -> bool:
        return self._verbose

    @property
    def offline_mode(self) -> bool:
        return self._offline_mode

    # ------------------------------------------------------------- plugins

    def specs(self, category: Category) -> Sequence[PluginSpec]:
        return self.manager.registry(category).specs()

    def create(self, category: Category, uri: str, **context: Any) -> Any:
        from .factory import create_from_uri  # the URI machinery is not needed to start up

        return create_from_uri(self.manager.registry(category), uri,
                               supplied={"context": self, **context})

    def check_uri(self, category: Category, uri: str, **context: Any) -> None:
        """Fail as :meth:`create` would for the URI's name and arguments, creating nothing."""
        from .factory import bind_uri

        bind_uri(self.manager.registry(category), uri, supplied={"context": self, **context})

    def parse_uri(self, uri: str, arguments: Sequence[ArgSpec], *,
                  owner: str) -> tuple[str, dict[str, Any]]:
        from ..uri import bind_arguments, parse_uri

        parsed = parse_uri(uri)
        return parsed.name, bind_arguments(parsed, arguments, owner=owner)

    def import_plugins(self, specifiers: Sequence[str], base_dir: str | None = None) -> None:
        self.manager.load_specifiers(specifiers, base_dir)

    # ----------------------------------------------------------- rendering

    @property
    def caches(self) -> Any:
        if self._caches is None:
            from ..cache import CacheRegistry

            self._caches = CacheRegistry(debug=self.debug)
        for spec in self.manager.registry(Category.MODEL_TYPE).specs(include_hidden=True):
            for slot in spec.capabilities.slots:  # a cache per sub-model slot
                self._caches.cache(slot)
        return self._caches

    @property
    def web_cache(self) -> Any:
        if self._web_cache is None:
            from dgenerate.plugin_api.webcache import WebCache

            self._web_cache = WebCache(offline=self.offline_mode)
        return self._web_cache

    def cache(self, name: str) -> Any:
        return self.caches.cache(name)

    def shared_modules(self) -> Mapping[str, Any]:
        return self.sharing.current

    def fetch(self, url: str) -> str:
        return self.web_cache.fetch(url)

    # --------------------------------------------------------------- media

    def open_media(self, path: str) -> Any:
        from dgenerate.plugin_api.media.reading import open_media

        local = self.fetch(path) if path.lower().startswith(("http://", "https://")) else path
        return open_media(local)

    def animation_writer(self, path: str, animation_format: str, fps: float, *,
                         overwrite: bool = True) -> Any:
        from dgenerate.plugin_api.media.writing import AnimationWriter

        return AnimationWriter(path, animation_format, fps, names=_claims(path, overwrite))

    def save_image(self, image: Any, path: str, *, overwrite: bool = True) -> str:
        from ..media.saving import write_image

        extension = os.path.splitext(path)[1].lstrip(".").lower() or "png"
        return write_image(image, path, extension, names=_claims(path, overwrite))

    def debug(self, message: str) -> None:
        if self._verbose:
            print(f"dgenerate: {message}", file=sys.stderr)

    def warn(self, message: str) -> None:
        print(f"dgenerate: warning: {message}", file=sys.stderr)

    def progress(self, total: int, description: str) -> Any:
        from tqdm import tqdm

        return tqdm(total=total, desc=description, leave=False, file=sys.stderr,
                    disable=not sys.stderr.isatty())
