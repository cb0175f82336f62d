"""The shape of config-script directives and of what they may do."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..context import PluginContext

if TYPE_CHECKING:
    from ..render import ModuleSharing

__all__ = ["Directive", "DirectiveContext"]


class DirectiveContext(PluginContext, Protocol):
    """What a directive (and a template function that asks for it) sees of the running script.

    Also passed to template functions declared with ``needs_context=True``, as
    their first argument.
    """

    @property
    def variables(self) -> MutableMapping[str, Any]:
        """The script's template variables; directives may read and set them."""

    @property
    def script_directory(self) -> str:
        """The folder of the running script (the current directory for stdin)."""

    def shell_parse(self, text: str, *, expand_globs: bool = True,
                    operators: bool = False) -> list[str]:
        """Split ``text`` into arguments with the config language's shell rules.

        With ``operators``, pipes and redirections (``|``, ``>``, ``2>&1`` ...) come out
        as separate tokens (what ``\\exec`` needs).
        """

    def expand(self, text: str) -> str:
        """Expand templates, then environment variables, in ``text``."""

    def expand_environment(self, text: str) -> str:
        """Expand ``$NAME``, ``${NAME}`` and ``%NAME%`` (unset ones become empty)."""

    def evaluate(self, expression: str) -> Any:
        """Evaluate a restricted Python expression with the script's variables and template
        functions (what ``\\setp`` does)."""

    def help_text(self, option: str, names: Sequence[str]) -> str:
        """The output of a ``--X-help`` option (``"--image-processor-help"``) for ``names``."""

    def download(self, url: str, output: str | None = None, *, overwrite: bool = False,
                 text: bool = False) -> str:
        """Download ``url`` into the web cache, or to ``output`` (a file, or a folder ending
        with ``/``), reusing what is there unless ``overwrite``; refuses text content unless
        ``text``. Returns the local path."""

    def reset_line_number(self) -> None:
        """Number the following lines from 1 again in messages."""

    def clear_caches(self, names: Sequence[str] = ()) -> None:
        """Empty the named in-memory object caches (all when none are named)."""

    def cache_names(self) -> list[str]:
        """The names of the in-memory object caches."""

    @property
    def sharing(self) -> ModuleSharing:
        """The script's record of the last invocation's main pipeline and the modules
        queued for the next invocation (``\\save_modules`` / ``\\use_modules``)."""


class Directive(Protocol):
    """A directive is a callable: ``\\name arg1 arg2`` calls ``directive(context, [args])``.

    The arguments arrive split and unquoted with the shell rules, unless the
    spec says ``raw=True``: then ``args`` holds one string, the text after the
    directive's name with templates expanded (nothing else). The
    return value is an exit status (``None`` means 0); a non-zero status stops
    the script like a failed command. Raise ``ScriptExit`` to end the script.
    """

    def __call__(self, context: DirectiveContext, args: Sequence[str]) -> int | None: ...
