"""What the kernel hands to plugins: the objects behind hook arguments.

Plugins never import the kernel. When a plugin needs a kernel service (create
another plugin from a URI, load more plugins, know whether ``-v`` was given) it
receives an object implementing one of these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .args import ArgSpec
from .specs import Category, PluginSpec

if TYPE_CHECKING:
    from PIL.Image import Image

    from .media import AnimationSink, Media

__all__ = ["OptionRegistrar", "PluginContext"]


@runtime_checkable
class PluginContext(Protocol):
    """Services of the running kernel, passed to ``dgenerate_configure`` and to sub-commands."""

    @property
    def verbose(self) -> bool:
        """``-v`` was given: plugins may print debugging detail."""

    @property
    def offline_mode(self) -> bool:
        """``--offline-mode``: nothing may be downloaded, only caches used."""

    def specs(self, category: Category) -> Sequence[PluginSpec]:
        """Every visible spec of a category, sorted by name."""

    def create(self, category: Category, uri: str, **context: Any) -> Any:
        """Create a plugin object from a URI such as ``"flip"`` or ``"resize;size=512"``.

        The URI's arguments are checked against the plugin's declared arguments
        and converted to their types; ``context`` supplies hidden arguments
        (``device=...``) to plugins that accept them and is ignored by the rest.
        A plugin that declares a (hidden) ``context`` argument receives this
        context. Raises :class:`~dgenerate.plugin_api.errors.DgenerateError`
        subclasses with a clear message for any problem.
        """

    def fetch(self, url: str) -> str:
        """Download ``url`` into the web cache (or reuse it) and return the local path;
        in offline mode only cached files are available."""

    def open_media(self, path: str) -> Media:
        """Open an image, animation or video file (or URL, through the web cache)."""

    def animation_writer(self, path: str, animation_format: str, fps: float, *,
                         overwrite: bool = True) -> AnimationSink:
        """Start writing an animation file (``mp4``, ``gif``, ``webp``, ``apng``, ``png``).

        With ``overwrite=False`` an existing file is never replaced: the finished
        animation takes ``path`` or its first free ``_duplicate_N`` name, claimed when
        complete (safe when several processes write into one folder); the sink's
        ``path`` says which after ``close``.
        """

    def save_image(self, image: Image, path: str, *, overwrite: bool = True) -> str:
        """Save an image atomically, in the format of the path's extension; return the path
        written. With ``overwrite=False`` it never replaces a file (see
        :meth:`animation_writer`)."""

    def parse_uri(self, uri: str, arguments: Sequence[ArgSpec], *,
                  owner: str) -> tuple[str, dict[str, Any]]:
        """Split a URI and bind its arguments to ``arguments`` (typed, checked).

        Returns the URI's name and the converted keyword arguments. For plugins
        with URI-configured things of their own (schedulers, sub-models).
        ``owner`` names the thing in error messages.
        """

    def import_plugins(self, specifiers: Sequence[str], base_dir: str | None = None) -> None:
        """Load more plugins (paths, module names or entry-point names).

        Registries are rebuilt, so what the new plugins contribute is usable at
        once. This is what the ``\\import_plugins`` directive calls.
        """


class OptionRegistrar(Protocol):
    """Passed to ``dgenerate_add_options``: declares command-line options of a plugin."""

    def add_option(self, *flags: str, **kwargs: Any) -> None:
        """Declare an option; the arguments are those of ``argparse.add_argument``.

        Give ``help=`` always. Options must start with ``--`` (short ``-x``
        spellings are allowed beside a long one). A flag another plugin already
        declared is an error naming both plugins.
        """
