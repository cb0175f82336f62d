"""Options declared by plugins: one record per command-line option a plugin owns.

The kernel owns only the options every model family shares (the model and how
it loads, prompts, seeds, steps, guidance, image seeds, sizes, batching,
processors, outputs, device). Everything else is declared by the plugin that
needs it with an :class:`OptionSpec`, and the kernel derives the rest from the
declaration:

* the ``--help`` entry (grouped under the plugin, with the model types it applies to);
* parsing and checking each value with ``type`` (errors name the option and the value);
* "does not apply" errors when the option is given with another model type, or
  without an option it ``requires``;
* for an ``axis`` option, one more dimension of the job grid: every value is tried;
* the file-name token (``token`` at ``position``), ``--output-configs`` lines
  (``reproduce``), ``last_<name>`` template variables and the dry-run listing.

The plugin reads the value a job uses with ``job.values[name]`` (``None`` when
the option was not given and has no default). Nothing here imports the kernel.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

from .errors import PluginSpecError

__all__ = ["NAME_POSITIONS", "OptionSpec", "option_name"]

#: Where the kernel's own tokens sit in a file name; a declared token goes at its
#: ``position`` among them (a token with position below ``seed`` is written as the
#: value alone, before ``s_<seed>``, as schedulers are). Equal positions keep the
#: order in which the options were declared.
NAME_POSITIONS = {
    "scheduler": 0,
    "seed": 100,
    "strength": 200,
    "guidance": 300,
    "steps": 400,
}

_FLAG = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9-]*$")
_TOKEN = re.compile(r"^[a-z0-9]*$")
_TOKEN_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def option_name(flag: str) -> str:
    """The value name of a long flag: ``--sdxl-high-noise-fractions`` ->
    ``sdxl_high_noise_fractions`` (as argparse names it)."""
    return flag.lstrip("-").replace("-", "_")


@dataclasses.dataclass(frozen=True, kw_only=True)
class OptionSpec:
    """A command-line option owned by a plugin.

    :param flags: its spellings, at least one long ``--name`` (short ones like
        ``-hnf`` beside it).
    :param help: what it does, for ``--help``.
    :param type: converts one word of the command line to the value; raising
        ``ValueError`` or :class:`~dgenerate.plugin_api.ValueSyntaxError` makes an
        error naming the option and the word. ``str`` by default.
    :param axis: it takes several values and every one is tried (a grid axis);
        ``job.values[name]`` is the one value of that job.
    :param switch: it takes no value; ``True`` when given.
    :param several: it takes several values that one job uses together (a list of
        URIs ...): ``job.values[name]`` is the tuple. Not an axis.
    :param default: the value when the option is not given (for an axis, one value
        or a tuple of values to try). ``None``: not given.
    :param metavar: the value's name in ``--help``.
    :param choices: the accepted values (after ``type``), if limited.
    :param model_types: the model types it applies to; empty means every one (an
        option declared in a :class:`~dgenerate.plugin_api.ModelTypeSpec` applies to
        that model type when this is empty). Giving it with another model type is
        an error that names both.
    :param requires: long flags of other options that must be given for this one to
        apply (``--sdxl-high-noise-fractions`` requires ``--sdxl-refiner``); without
        them giving it is an error and its default does not apply. When several
        plugins declare one option, each declaration's ``requires`` holds for its own
        model types.
    :param token: its file-name token: ``"hnf"`` writes ``_hnf_0-8``; ``""`` writes
        the value alone (a URI by its name, as schedulers are); ``None``: not named.
    :param position: where the token goes among the kernel's (see ``NAME_POSITIONS``).
    :param reproduce: written into ``--output-configs`` scripts and metadata (false
        for options that do not change the pixels, such as offloading).
    :param group: the ``--help`` section; by default the plugin's name.
    :param name: the value's name in ``job.values`` and ``last_<name>``; derived
        from the first long flag.
    :param variable: a second name of its ``last_`` template variable, for scripts
        written for dgenerate 5.0.0 (``vae_uri``: ``last_vae_uri`` beside ``last_vae``).
    :param prompt_argument: its name inside a prompt: ``"clip-skip"`` lets a prompt
        written ``<clip-skip: 1> a cat`` set it for that prompt's jobs only (one value,
        converted by ``type``; words split as in a config line for a list of values).
        Empty: a prompt cannot set it.
    :param upscaler: for an option whose values are prompts (``type`` returns a
        :class:`~dgenerate.plugin_api.values.Prompt`): the flags of the option the kernel
        adds to choose the prompt upscalers of these prompts (``--second-prompt-upscaler``);
        without it, ``--prompt-upscaler`` applies to them. Empty: not upscaled.
    """

    flags: tuple[str, ...]
    help: str
    type: Callable[[str], Any] = str
    axis: bool = False
    switch: bool = False
    several: bool = False
    default: Any = None
    metavar: str | None = None
    choices: tuple[Any, ...] | None = None
    model_types: tuple[str, ...] = ()
    requires: tuple[str, ...] = ()
    token: str | None = None
    position: int = 900
    reproduce: bool = True
    group: str | None = None
    name: str = ""
    variable: str = ""
    prompt_argument: str = ""
    upscaler: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        flags = (self.flags,) if isinstance(self.flags, str) else tuple(self.flags)
        object.__setattr__(self, "flags", flags)
        for field in ("model_types", "requires", "upscaler"):
            value = getattr(self, field)
            object.__setattr__(self, field, (value,) if isinstance(value, str) else tuple(value))
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))
        longs = [flag for flag in flags if flag.startswith("--")]
        if not flags or not all(isinstance(flag, str) and _FLAG.match(flag) for flag in flags):
            self._fail("flags must look like --name or -n")
        if not longs:
            self._fail("a long --name flag is required")
        if not self.name:
            object.__setattr__(self, "name", option_name(longs[0]))
        if self.variable and not self.variable.isidentifier():
            self._fail(f"variable {self.variable!r} must be an identifier")
        if not isinstance(self.help, str) or not self.help.strip():
            self._fail("help is required")
        if not callable(self.type):
            self._fail("type must be callable (a str -> value converter)")
        if sum((self.axis, self.switch, self.several)) > 1:
            self._fail("axis, switch and several exclude each other")
        if self.several and self.token is not None:
            self._fail("a list of values has no file-name token")
        if self.token is not None and not _TOKEN.match(self.token):
            self._fail(f"token {self.token!r} must be lower-case letters and digits")
        if self.switch and self.default not in (None, False):
            self._fail("a switch is off by default")
        if self.axis and self.default is not None and not isinstance(self.default, tuple):
            object.__setattr__(self, "default", (self.default,))
        for flag in self.requires:
            if not flag.startswith("--"):
                self._fail(f"requires names long flags; {flag!r} is not one")
        if self.upscaler and not any(flag.startswith("--") for flag in self.upscaler):
            self._fail("upscaler needs a long --name flag")
        if self.prompt_argument and not _TOKEN_NAME.match(self.prompt_argument):
            self._fail(f"prompt_argument {self.prompt_argument!r} must be lower-case words "
                       "joined by -")

    def _fail(self, message: str) -> None:
        raise PluginSpecError(f"invalid option {self.flags!r}: {message}")

    @property
    def flag(self) -> str:
        """The first long spelling, used in messages and written configs."""
        return next(flag for flag in self.flags if flag.startswith("--"))

    def applies_to(self, model_type: str) -> bool:
        return not self.model_types or model_type in self.model_types

    def same_option(self, other: OptionSpec) -> bool:
        """Whether two declarations describe one option (several plugins may declare
        the same option for their own model types; the kernel merges them)."""
        fields = ("flags", "axis", "switch", "several", "default", "token", "position", "reproduce",
                  "name", "choices", "variable", "prompt_argument", "upscaler")
        return all(getattr(self, field) == getattr(other, field) for field in fields)
