"""What a prompt changes before the grid is built: prompt upscalers expand the prompts
(:func:`upscale_plan`), and embedded ``<name: value>`` arguments set options for one
prompt's jobs (:func:`prompt_settings`).

A prompt may set the kernel's per-job values (seed, steps, guidance, strength,
scheduler, size, batch size, weighter) and every option a plugin declares with a
``prompt_argument`` name; the grid then tries only that value for the prompt.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dgenerate.plugin_api.errors import DgenerateError, ValueSyntaxError
from dgenerate.plugin_api.options import option_name
from dgenerate.plugin_api.prompts import split_prompt_arguments, upscale_prompts
from dgenerate.plugin_api.shell import shell_parse
from dgenerate.plugin_api.specs import Category
from dgenerate.plugin_api.values import MAX_IMAGE_SIDE, Prompt, int_in

from ..uri import parse_uri
from .values import (
    batch_size_value,
    guidance_value,
    seed_value,
    steps_value,
    strength_value,
)

__all__ = ["PromptSettings", "check_prompts", "prompt_settings", "upscale_plan", "upscaler_uris"]

#: the names dgenerate 5.0.0 accepts inside a prompt (data in prompt_arguments.txt), for
#: a clear message when one this version lacks is used
_KNOWN_5_0 = frozenset(Path(__file__).with_name("prompt_arguments.txt").read_text(
    encoding="utf-8").split()) - {"#"}


def _uri(text: str) -> str:
    parse_uri(text)
    return text


def _side(text: str) -> int:
    value = int_in(8, MAX_IMAGE_SIDE)(text)
    if value % 8:
        raise ValueSyntaxError(f"{text!r} is not a multiple of 8")
    return value


#: kernel values a prompt may set: name -> (JobTemplate field, converter)
_KERNEL: dict[str, tuple[str, Callable[[str], Any]]] = {
    "seed": ("seed", seed_value),
    "inference-steps": ("inference_steps", steps_value),
    "guidance-scale": ("guidance_scale", guidance_value),
    "image-seed-strength": ("strength", strength_value),
    "scheduler": ("scheduler", _uri),
    "scheduler-uri": ("scheduler", _uri),
    "width": ("width", _side),
    "height": ("height", _side),
    "batch-size": ("batch_size", batch_size_value),
    "weighter": ("prompt_weighter", _uri),
}


@dataclasses.dataclass(frozen=True)
class PromptSettings:
    """A prompt without its arguments, and what they set: kernel fields and declared
    option values (by option name)."""

    prompt: Prompt
    fields: Mapping[str, Any]
    values: Mapping[str, Any]


def _convert(declared: Any, text: str) -> Any:
    spec = declared.spec
    if spec.switch:
        return {"true": True, "false": False}[text.strip().lower()]
    if spec.several:
        return tuple(spec.type(word) for word in shell_parse(text, environ={},
                                                             expand_globs=False))
    value = spec.type(text)
    if spec.choices is not None and value not in spec.choices:
        raise ValueSyntaxError(f"{text!r} is not one of {', '.join(map(str, spec.choices))}")
    return value


def _settings(prompt: Prompt, plan: Any) -> PromptSettings:
    positive, arguments = split_prompt_arguments(prompt.positive)
    fields: dict[str, Any] = {}
    values: dict[str, Any] = {}
    model_type = plan.request.source.model_type
    embeddable = {option.spec.prompt_argument: option for option in plan.declared
                  if option.spec.prompt_argument}
    for argument in arguments:
        where = f"--prompts {str(prompt)!r}: {argument.text}"
        declared = embeddable.get(argument.name)
        try:
            if argument.name in _KERNEL:
                field, convert = _KERNEL[argument.name]
                fields[field] = convert(argument.value)
            elif declared is not None:
                if not declared.spec.applies_to(model_type):
                    raise DgenerateError(f"{where}: {declared.spec.flag} does not apply to "
                                         f"--model-type {model_type}")
                missing = [flag for flag in declared.requires_for(model_type)
                           if option_name(flag) not in plan.given]
                if missing:
                    raise DgenerateError(f"{where}: {declared.spec.flag} needs "
                                         f"{' or '.join(missing)}")
                values[declared.spec.name] = _convert(declared, argument.value)
            elif argument.name == "upscaler":  # used by upscale_plan
                try:
                    parse_uri(argument.value)
                except DgenerateError as error:
                    raise DgenerateError(f"{where}: {error}") from None
            elif argument.name in _KNOWN_5_0:
                raise DgenerateError(f"{where}: this version does not implement the prompt "
                                     f"argument {argument.name!r} (or not for --model-type "
                                     f"{model_type})")
            else:
                names = sorted({*_KERNEL, "upscaler", *embeddable})
                raise DgenerateError(f"{where}: a prompt cannot set {argument.name!r}; it may "
                                     f"set {', '.join(names)}")
        except (ValueSyntaxError, ValueError, KeyError) as error:
            detail = str(error) if isinstance(error, ValueSyntaxError) else (
                f"{argument.value!r} is not valid")
            raise DgenerateError(f"{where}: {detail}") from None
    _check_fields(fields, plan, f"--prompts {str(prompt)!r}")
    return PromptSettings(prompt._replace(positive=positive), fields, values)


def _check_fields(fields: Mapping[str, Any], plan: Any, where: str) -> None:
    if "strength" in fields and not (plan.image_seeds and plan.capabilities.strength):
        raise DgenerateError(f"{where}: <image-seed-strength> needs --image-seeds that take a "
                             "strength")
    if ("width" in fields or "height" in fields) and plan.image_seeds:
        raise DgenerateError(f"{where}: <width> and <height> set the size of jobs without "
                             "--image-seeds; image seeds are resized with resize=")
    batch = fields.get("batch_size")
    grid = plan.output.grid
    if batch is not None and grid is not None and grid.width * grid.height < batch:
        raise DgenerateError(f"{where}: a {grid.width}x{grid.height} --batch-grid-size cannot "
                             f"hold a batch of {batch} images")


def prompt_settings(prompt: Prompt, plan: Any) -> PromptSettings:
    """The settings of ``prompt`` in ``plan``; raises :class:`DgenerateError` naming the
    prompt for an argument it may not set or a value that is not valid."""
    return _settings(prompt, plan)


def _prompts_of(plan: Any, name: str) -> list[Prompt]:
    values = plan.request.values.get(name)
    return [value for value in values or () if isinstance(value, Prompt)] if isinstance(
        values, tuple) else []


def check_prompts(plan: Any) -> None:
    """Check every prompt's arguments before anything loads; prompts of other options
    (``--second-prompts`` ...) may only hold ``<upscaler: URI>``."""
    for prompt in plan.request.prompts:
        _settings(prompt, plan)
    for option in plan.declared:
        if option.spec.upscaler:
            for prompt in _prompts_of(plan, option.spec.name):
                for argument in split_prompt_arguments(prompt.positive)[1]:
                    if argument.name != "upscaler":
                        raise DgenerateError(
                            f"{option.spec.flag} {str(prompt)!r}: {argument.text}: only "
                            "--prompts may set options; these prompts may hold <upscaler: URI>")


def upscaler_uris(plan: Any) -> list[str]:
    """Every upscaler URI the plan names: options and ``<upscaler: ...>`` in prompts."""
    prompts = [*plan.request.prompts, *(prompt for name, _ in plan.option_upscalers
                                        for prompt in _prompts_of(plan, name))]
    own = [argument.value for prompt in prompts
           for argument in split_prompt_arguments(prompt.positive)[1]
           if argument.name == "upscaler"]
    return list(dict.fromkeys([*plan.prompt_upscalers,
                               *(uri for _, chain in plan.option_upscalers for uri in chain),
                               *own]))


def upscale_plan(context: Any, plan: Any) -> Any:
    """``plan`` with every prompt run through its upscaler chain (each URI created once),
    or ``plan`` itself when nothing is upscaled."""
    if not upscaler_uris(plan):
        return plan
    created: dict[str, Any] = {}

    def create(uri: str) -> Any:
        if uri not in created:
            created[uri] = context.create(Category.PROMPT_UPSCALER, uri,
                                          device=plan.request.source.device)
        return created[uri]

    request = plan.request
    values = dict(request.values)
    for name, chain in plan.option_upscalers:
        if _prompts_of(plan, name):
            values[name] = tuple(upscale_prompts(_prompts_of(plan, name),
                                                 chain or plan.prompt_upscalers, create))
    prompts = tuple(upscale_prompts(request.prompts, plan.prompt_upscalers, create))
    return dataclasses.replace(plan, request=dataclasses.replace(
        request, prompts=prompts, values=values))
