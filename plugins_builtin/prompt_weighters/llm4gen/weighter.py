"""The ``llm4gen`` prompt weighter (light to import: torch and transformers load when the
weighter is created)."""

from __future__ import annotations

import os
from collections.abc import Callable, Hashable
from typing import Annotated, Any

from dgenerate.plugin_api import Arg, Category, DgenerateError, PluginArgumentError, PromptWeighter
from dgenerate.plugin_api.caching import cached

__all__ = ["DTYPES", "SUPPORTED_MODEL_TYPES", "Llm4genWeighter"]

SUPPORTED_MODEL_TYPES = ("sd", "pix2pix", "upscaler-x4")
DTYPES = ("float32", "float16", "bfloat16")
_WEIGHTERS = ("sd-embed", "compel")
_ENCODERS = ("base-all", "large-all", "xl-all", "xl-pg19")

#: models of weighters created without a kernel context (no object cache to use)


class Llm4genWeighter(PromptWeighter):
    """LLM4GEN for Stable Diffusion 1.5 (--model-type sd, pix2pix, upscaler-x4): the prompt
    is also read by a RankGen T5 encoder (a language model trained on long texts) and its
    features are fused with the CLIP text features by the LLM4GEN cross-adapter (CAM)
    projector, which the authors trained with a fine-tuned SD 1.5 UNet. The pipeline
    receives the CLIP tokens followed by the 256 fused T5 tokens. See
    https://github.com/YUHANG-Ma/LLM4GEN (arXiv 2407.00737).

    Stable Diffusion 2.x (and other OpenCLIP ViT-H text encoders, such as that of
    stabilityai's x4 upscaler) is refused: the projector was trained on SD 1.5's CLIP.

    The T5 encoder reads --second-prompts when the model type passes them, else the
    primary prompt; with "weighter" and no --second-prompts, the weighting marks are
    removed from the prompt it reads. The negative prompt goes to both encoders.

    encoder: the RankGen variant, base-all, large-all, xl-all or xl-pg19 (Hugging Face
    repositories kalpeshk2011/rankgen-t5-<variant>; the tokenizer comes from
    google/t5-v1_1-<size>), or a local folder with a T5 encoder (and its tokenizer).
    The published projector fits xl-all and xl-pg19 (2048 wide features).

    projector: a Hugging Face repository, a folder or a file with the CAM weights
    (.pth or .safetensors); projector-subfolder, projector-revision and
    projector-weight-name say where it is in the repository or folder.

    weighter: sd-embed or compel weigh the prompt for the CLIP part (their syntax);
    none: plain CLIP encoding of the first 77 tokens, as the pipeline does.

    llm-dtype: float32, float16 or bfloat16, for the encoder and the projector.
    llm-quantizer: a --quantizer URI applied while the T5 encoder loads.
    token: a Hugging Face token for the downloads (else HF_TOKEN is used).

    The models are downloaded once into the Hugging Face cache (with --offline-mode
    only the cache is read) and kept in dgenerate's "llm4gen" object cache.
    """

    def __init__(
        self,
        *,
        encoder: Annotated[str, Arg(
            help="RankGen T5 encoder: base-all, large-all, xl-all, xl-pg19, or a folder")
        ] = "xl-all",
        projector: Annotated[str, Arg(
            help="Hugging Face repository, folder or file of the LLM4GEN projector (CAM)")
        ] = "Shui-VL/LLM4GEN-models",
        projector_subfolder: Annotated[str | None, Arg(
            help="subfolder of the projector file in the repository or folder")] = None,
        projector_revision: Annotated[str | None, Arg(
            help="revision (branch, tag or commit) of the projector repository")] = None,
        projector_weight_name: Annotated[str, Arg(
            help="file name of the projector weights")] = "projector.pth",
        weighter: Annotated[str | None, Arg(
            help="sd-embed or compel: weigh the prompt for the CLIP part")] = None,
        llm_dtype: Annotated[str, Arg(
            help="float32, float16 or bfloat16, for the T5 encoder and projector")
        ] = "float32",
        llm_quantizer: Annotated[str | None, Arg(
            help="quantizer URI (--quantizer syntax) for loading the T5 encoder")] = None,
        token: Annotated[str | None, Arg(
            help="Hugging Face auth token for the downloads")] = None,
        model_type: Annotated[str | None, Arg(hidden=True)] = None,
        device: Annotated[str, Arg(hidden=True)] = "cpu",
        context: Annotated[Any, Arg(hidden=True)] = None,
    ) -> None:
        if model_type is not None and model_type not in SUPPORTED_MODEL_TYPES:
            raise DgenerateError(
                f"--prompt-weighter llm4gen cannot weigh the prompts of --model-type "
                f"{model_type}: it works with Stable Diffusion 1.5 models only "
                f"(--model-type {', '.join(SUPPORTED_MODEL_TYPES)})")
        if weighter is not None and weighter not in _WEIGHTERS:
            raise PluginArgumentError(f"llm4gen: weighter={weighter!r} is not one of "
                                      f"{', '.join(_WEIGHTERS)}")
        if llm_dtype not in DTYPES:
            raise PluginArgumentError(f"llm4gen: llm-dtype={llm_dtype!r} is not one of "
                                      f"{', '.join(DTYPES)}")
        if encoder not in _ENCODERS and not os.path.isdir(encoder):
            raise PluginArgumentError(f"llm4gen: encoder={encoder!r} is not one of "
                                      f"{', '.join(_ENCODERS)}, nor a folder")
        if not projector_weight_name.strip():
            raise PluginArgumentError("llm4gen: projector-weight-name must not be empty")
        self.weighter = weighter
        self.model_type = model_type
        self._context = context
        self._clip_weighter = self._create_clip_weighter(weighter, str(device))
        self._token = token
        self._device = str(device)
        self._offline = bool(getattr(context, "offline_mode", False))
        quantization = self._quantization(llm_quantizer)
        self._rankgen = self._load_rankgen(encoder, llm_dtype, llm_quantizer, quantization)
        self._projector = self._load_projector(
            projector, projector_subfolder, projector_revision, projector_weight_name,
            llm_dtype)
        if self._projector.llm_dim != self._rankgen.width:
            raise DgenerateError(
                f"llm4gen: the projector {projector!r} takes {self._projector.llm_dim} wide "
                f"T5 features, but encoder={encoder!r} gives {self._rankgen.width} wide ones "
                "(the published projector fits xl-all and xl-pg19)")

    # ------------------------------------------------------------------ loading

    def _create_clip_weighter(self, name: str | None, device: str) -> Any:
        """The sd-embed or compel weighter of the CLIP half, made as any plugin makes
        another: through the plugin context."""
        if name is None:
            return None
        if self._context is None or not hasattr(self._context, "create"):
            raise DgenerateError(f"llm4gen: weighter={name} needs dgenerate's plugins (use "
                                 "the weighter through dgenerate)")
        from dgenerate.plugin_api import Category

        return self._context.create(Category.PROMPT_WEIGHTER, name, model_type="sd",
                                    device=device)

    def _quantization(self, uri: str | None) -> Any:
        if uri is None:
            return None
        if self._context is None or not hasattr(self._context, "create"):
            raise DgenerateError("llm4gen: llm-quantizer needs dgenerate's plugins (use the "
                                 "weighter through dgenerate)")
        try:
            quantizer = self._context.create(Category.QUANTIZER, uri)
        except DgenerateError as error:
            raise DgenerateError(f"llm4gen: llm-quantizer={uri!r}: {error}") from None
        return quantizer.transformers_config()

    def _cached(self, key: Hashable, create: Callable[[], Any], size: int) -> Any:
        return cached(self._context, "llm4gen", key, create, size=size)

    def _load_rankgen(self, encoder: str, dtype: str, quantizer: str | None,
                      quantization: Any) -> Any:
        from .encoder import load_rankgen
        from .sources import encoder_source

        source = encoder_source(encoder, token=self._token, offline=self._offline)
        key = ("rankgen", os.path.realpath(source.model) if source.local else source.model,
               source.tokenizer, dtype, quantizer, self._device if quantizer else None)
        return self._cached(key, lambda: load_rankgen(
            source, dtype=_torch_dtype(dtype), quantization=quantization, token=self._token,
            offline=self._offline, what=f"encoder={encoder!r}", device=self._device),
            _t5_bytes(source.config, dtype))

    def _load_projector(self, projector: str, subfolder: str | None, revision: str | None,
                        weight_name: str, dtype: str) -> Any:
        from .projector import load_projector
        from .sources import projector_file

        path = projector_file(projector, subfolder=subfolder, revision=revision,
                              weight_name=weight_name, token=self._token,
                              offline=self._offline)
        real = os.path.realpath(path)
        status = os.stat(real)
        key = ("projector", real, status.st_mtime_ns, status.st_size, dtype)
        return self._cached(key, lambda: load_projector(path, _torch_dtype(dtype)),
                            status.st_size)

    # ---------------------------------------------------------------- weighting

    def translate(self, pipeline: Any, call_args: dict[str, Any]) -> dict[str, Any]:
        if "prompt" not in call_args:
            return call_args
        import torch

        from .clip import clip_embeddings
        from .syntax import strip_weights

        self._check(pipeline)
        arguments = dict(call_args)
        prompts = _listed(arguments.pop("prompt"))
        count = len(prompts)
        negatives = _listed(arguments.pop("negative_prompt", None), count)
        seconds = _listed(arguments.pop("prompt_2", None), count)
        second_negatives = _listed(arguments.pop("negative_prompt_2", None), count)
        clip_skip = arguments.pop("clip_skip", None)  # applied here
        clip, negative_clip = clip_embeddings(pipeline, prompts, negatives,
                                              weighter=self._clip_weighter,
                                              clip_skip=clip_skip)

        def for_t5(explicit: str | None, primary: str | None) -> str:
            if explicit is not None:
                return explicit
            primary = primary or ""
            return strip_weights(primary) if self.weighter else primary

        texts = ([for_t5(second, prompt) for second, prompt in zip(seconds, prompts, strict=True)]
                 + [for_t5(second, negative) for second, negative
                    in zip(second_negatives, negatives, strict=True)])
        device = getattr(pipeline, "_execution_device", None) or clip.device
        features = self._rankgen.encode(texts, device)
        projector = self._projector.to(device)
        dtype = next(projector.parameters()).dtype
        with torch.no_grad():
            fused = projector(torch.cat([clip, negative_clip]).to(device, dtype),
                              features.to(device, dtype)).to(clip.dtype)
        arguments["prompt_embeds"], arguments["negative_prompt_embeds"] = fused.split(count)
        return arguments

    def _check(self, pipeline: Any) -> None:
        encoder = getattr(pipeline, "text_encoder", None)
        if encoder is None or getattr(pipeline, "tokenizer", None) is None:
            raise DgenerateError("--prompt-weighter llm4gen needs the CLIP text encoder of the "
                                 "model; this pipeline has none")
        config = encoder.config
        width = int(getattr(config, "hidden_size", 0))
        if getattr(config, "hidden_act", "quick_gelu") == "gelu" or width == 1024:
            raise DgenerateError(
                "--prompt-weighter llm4gen does not support Stable Diffusion 2.x: this model's "
                f"text encoder is OpenCLIP ViT-H shaped (width {width}, "
                f"{getattr(config, 'hidden_act', '?')} activation), but the LLM4GEN projector "
                "works with the CLIP ViT-L text encoder of Stable Diffusion 1.5 only")
        if width != self._projector.clip_dim:
            raise DgenerateError(
                f"--prompt-weighter llm4gen: the projector fuses {self._projector.clip_dim} "
                f"wide CLIP features, but this model's text encoder is {width} wide; it works "
                "with Stable Diffusion 1.5 models")


def _t5_bytes(config: dict[str, Any], dtype: str) -> int:
    """About the memory of a T5 encoder's weights (for the object cache's accounting)."""
    width, layers = config["d_model"], config["num_layers"]
    attention = 4 * width * config.get("num_heads", 1) * config.get("d_kv", 64)
    feed_forward = 3 * width * config["d_ff"]
    count = config.get("vocab_size", 32128) * width + layers * (attention + feed_forward)
    return count * (4 if dtype == "float32" else 2)


def _torch_dtype(name: str) -> Any:
    import torch

    return getattr(torch, name)


def _listed(value: Any, count: int = 1) -> list[Any]:
    if value is None:
        return [None] * count
    return [value] if isinstance(value, str) else list(value)
