"""ControlNet pipelines for Kolors (diffusers has none).

The Kolors pipelines are used as they are; for the duration of one call the pipeline's UNet
is replaced by :class:`GuidedUNet`, which runs the ControlNets before every UNet evaluation
(on the same latents, timestep, text and added conditioning, with the control images) and
hands their residuals to the real UNet. The UNet is put back when the call ends, however it
ends.

ControlNets for Kolors carry their own projection of the ChatGLM hidden states to the cross
attention width (``encoder_hid_proj``, like the Kolors UNet); diffusers' ControlNetModel
holds that layer but does not apply it, so it is applied here.
"""

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import torch
from diffusers import ControlNetModel, KolorsImg2ImgPipeline, KolorsPipeline
from diffusers.image_processor import VaeImageProcessor
from diffusers.models.autoencoders import AutoencoderKL
from diffusers.models.controlnets.multicontrolnet import MultiControlNetModel
from diffusers.models.unets import UNet2DConditionModel
from diffusers.pipelines.kolors.text_encoder import ChatGLMModel
from diffusers.pipelines.kolors.tokenizer import ChatGLMTokenizer
from diffusers.schedulers import KarrasDiffusionSchedulers
from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

__all__ = ["GuidedUNet", "KolorsControlNetImg2ImgPipeline", "KolorsControlNetPipeline"]


class _Guide:
    """One ControlNet with its control image (a batch tensor), scale and step window."""

    def __init__(self, net: Any, image: torch.Tensor, scale: float, start: float,
                 end: float) -> None:
        self.net, self.image = net, image
        self.scale, self.start, self.end = float(scale), float(start), float(end)

    def active(self, step: int, steps: int) -> bool:
        """Whether it guides step ``step`` (0-based) of ``steps``: the step lies wholly
        inside [start, end] (as fractions of the steps)."""
        if self.scale == 0.0 or steps <= 0:
            return False
        return self.start <= step / steps and (step + 1) / steps <= self.end


class GuidedUNet(torch.nn.Module):
    """A UNet whose every evaluation is guided by ControlNets.

    Attributes it does not have itself (config, dtype, device, add_embedding,
    encoder_hid_proj ...) are those of the wrapped UNet. ``steps`` tells the number of
    denoising steps of the running call; evaluations are counted as steps (the Kolors
    pipelines evaluate the UNet once a step, both halves of classifier-free guidance in one
    batch).
    """

    def __init__(self, unet: Any, guides: Sequence[_Guide], steps: Callable[[], int]) -> None:
        super().__init__()
        self.inner = unet
        self._guides = list(guides)
        self._steps = steps
        self._step = 0

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(self._modules["inner"], name)

    @staticmethod
    def _hidden_states(net: Any, hidden: torch.Tensor) -> torch.Tensor:
        """The text hidden states as ``net`` takes them: through its own text projection."""
        projection = getattr(net, "encoder_hid_proj", None)
        hidden = hidden.to(net.dtype)
        return hidden if projection is None else projection(hidden)

    def forward(self, sample: torch.Tensor, timestep: Any, *args: Any,
                encoder_hidden_states: torch.Tensor | None = None,
                added_cond_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        step, self._step = self._step, self._step + 1
        steps = self._steps()
        down: list[torch.Tensor] | None = None
        mid: torch.Tensor | None = None
        for guide in self._guides:
            if not guide.active(step, steps):
                continue  # no guidance at all, not a guidance of zeros: the plain UNet
            net = guide.net
            dtype = net.dtype
            image = guide.image
            if image.shape[0] != sample.shape[0]:
                image = image.repeat(sample.shape[0] // image.shape[0], 1, 1, 1)
            conditioning = {key: value.to(dtype) if torch.is_tensor(value)
                            and value.is_floating_point() else value
                            for key, value in (added_cond_kwargs or {}).items()
                            if key in ("text_embeds", "time_ids")}
            residuals, middle = net(
                sample.to(dtype), timestep,
                encoder_hidden_states=self._hidden_states(net, encoder_hidden_states),
                controlnet_cond=image.to(device=sample.device, dtype=dtype),
                conditioning_scale=guide.scale,
                timestep_cond=kwargs.get("timestep_cond"),
                added_cond_kwargs=conditioning,
                cross_attention_kwargs=kwargs.get("cross_attention_kwargs"),
                return_dict=False)
            residuals = [tensor.to(sample.dtype) for tensor in residuals]
            middle = middle.to(sample.dtype)
            if down is None:
                down, mid = residuals, middle
            else:
                down = [mine + theirs for mine, theirs in zip(down, residuals, strict=True)]
                mid = mid + middle
        if down is not None:
            kwargs["down_block_additional_residuals"] = down
            kwargs["mid_block_additional_residual"] = mid
        return self.inner(sample, timestep, *args, encoder_hidden_states=encoder_hidden_states,
                          added_cond_kwargs=added_cond_kwargs, **kwargs)


def _nets(controlnet: Any) -> list[Any]:
    if isinstance(controlnet, MultiControlNetModel):
        return list(controlnet.nets)
    return [controlnet]


def _misfit(net: Any, unet: Any) -> str | None:
    """Why the ControlNet ``net`` cannot guide the Kolors ``unet`` (None when it can)."""
    config, main = net.config, unet.config
    text = main.get("encoder_hid_dim") or main.cross_attention_dim  # the text encoder's width
    takes = (config.get("encoder_hid_dim") if getattr(net, "encoder_hid_proj", None) is not None
             else config.cross_attention_dim)
    if takes != text:
        if getattr(net, "encoder_hid_proj", None) is None:
            return (f"it has no projection of the text encoder's output (encoder_hid_proj, "
                    f"{text} values wide here), which Kolors ControlNets have")
        return f"it takes text hidden states {takes} wide and the text encoder gives {text}"
    for key, what in (("cross_attention_dim", "its cross attention width"),
                      ("projection_class_embeddings_input_dim",
                       "the width of its added conditioning"),
                      ("addition_time_embed_dim", "its size embedding width"),
                      ("in_channels", "its latent channels")):
        if config.get(key) != main.get(key):
            return f"{what} is {config.get(key)} and the UNet's {main.get(key)}"
    return None


def _per_net(value: Any, count: int, what: str) -> list[Any]:
    values = list(value) if isinstance(value, (list, tuple)) else [value] * count
    if len(values) != count:
        raise ValueError(f"{what} gives {len(values)} values for {count} ControlNets")
    return values


class _ControlNetCalls:
    """What both Kolors ControlNet pipelines add to their parent's call."""

    controlnet: Any
    _execution_device: Any
    vae_scale_factor: int

    def _register_controlnet(self, controlnet: Any) -> None:
        if isinstance(controlnet, (list, tuple)):
            controlnet = MultiControlNetModel(controlnet)
        self.register_modules(controlnet=controlnet)
        self.control_image_processor = VaeImageProcessor(
            vae_scale_factor=self.vae_scale_factor, do_convert_rgb=True, do_normalize=False)

    def _control_tensor(self, image: Any, height: int | None, width: int | None,
                        images: int, per_prompt: int) -> torch.Tensor:
        """One ControlNet's control image(s) as a tensor in [0, 1] of the output size, one
        row per image the call makes (``images``; ``per_prompt`` of them per prompt)."""
        tensor = self.control_image_processor.preprocess(image, height=height, width=width)
        tensor = tensor.to(torch.float32)
        rows = tensor.shape[0]
        if rows == 1:
            tensor = tensor.repeat(images, 1, 1, 1)
        elif rows * per_prompt == images:
            tensor = tensor.repeat_interleave(per_prompt, dim=0)
        elif rows != images:
            raise ValueError(f"{rows} control images for a call making {images} images")
        return tensor.to(self._execution_device)

    def _guided_call(self, call: Callable[..., Any], control: Any, arguments: dict[str, Any],
                     scale: Any, start: Any, end: Any, size_from: Any) -> Any:
        if control is None:
            raise ValueError("a ControlNet pipeline needs a control image")
        nets = _nets(self.controlnet)
        count = len(nets)
        for number, net in enumerate(nets, 1):
            reason = _misfit(net, self.unet)
            if reason is not None:
                which = f"ControlNet {number} of {count}" if count > 1 else "the ControlNet"
                raise ValueError(f"{which} is not a ControlNet for this Kolors model: {reason}; "
                                 "Kolors needs ControlNets made for Kolors")
        controls = list(control) if count > 1 else [control]
        if len(controls) != count:
            raise ValueError(f"{len(controls)} control images for {count} ControlNets")
        prompt = arguments.get("prompt")
        if prompt is None:
            prompts = arguments["prompt_embeds"].shape[0]
        else:
            prompts = 1 if isinstance(prompt, str) else len(prompt)
        per_prompt = arguments.get("num_images_per_prompt") or 1
        height, width = arguments.get("height"), arguments.get("width")
        if height is None or width is None:
            # the size of the image the output takes its size from
            height, width = self.control_image_processor.get_default_height_width(
                size_from if size_from is not None else _first_image(controls[0]), height, width)
            if size_from is None:  # txt2img: the output is the control image's size
                arguments["height"], arguments["width"] = height, width
        guides = [
            _Guide(net, self._control_tensor(image, height, width, prompts * per_prompt,
                                             per_prompt), net_scale, net_start, net_end)
            for net, image, net_scale, net_start, net_end in zip(
                nets, controls, _per_net(scale, count, "controlnet_conditioning_scale"),
                _per_net(start, count, "control_guidance_start"),
                _per_net(end, count, "control_guidance_end"), strict=True)]
        for guide in guides:
            if not 0.0 <= guide.start < guide.end <= 1.0:
                raise ValueError(f"control_guidance_start {guide.start} and "
                                 f"control_guidance_end {guide.end} must satisfy "
                                 "0 <= start < end <= 1")
        unet = self.unet
        self.__dict__["unet"] = GuidedUNet(unet, guides, lambda: getattr(self,
                                                                         "_num_timesteps", 0))
        try:
            return call(**arguments)
        finally:
            self.__dict__["unet"] = unet


def _first_image(image: Any) -> Any:
    return image[0] if isinstance(image, (list, tuple)) and image else image


_CONTROL_PARAMETERS = ("controlnet_conditioning_scale", "control_guidance_start",
                       "control_guidance_end")


def _with_parameters(function: Callable[..., Any], parent: Callable[..., Any],
                     names: Sequence[str]) -> None:
    """Give ``function`` (``self, **arguments``) the signature of ``parent`` plus the keyword
    parameters ``names`` (default None, 1.0, 0.0, 1.0 as in ``function``'s defaults)."""
    own = inspect.signature(function).parameters
    parameters = [value for value in inspect.signature(parent).parameters.values()
                  if value.kind is not inspect.Parameter.VAR_KEYWORD]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                     default=own[name].default) for name in names]
    parameters = [value.replace(kind=inspect.Parameter.KEYWORD_ONLY)
                  if index and value.kind is not inspect.Parameter.VAR_POSITIONAL else value
                  for index, value in enumerate(parameters)]
    function.__signature__ = inspect.Signature(parameters)


class KolorsControlNetPipeline(_ControlNetCalls, KolorsPipeline):
    """Kolors text-to-image guided by ControlNets: ``image`` is the control image (a list,
    one per ControlNet, with a MultiControlNetModel)."""

    def __init__(self, vae: AutoencoderKL, text_encoder: ChatGLMModel,
                 tokenizer: ChatGLMTokenizer, unet: UNet2DConditionModel,
                 scheduler: KarrasDiffusionSchedulers,
                 controlnet: ControlNetModel | MultiControlNetModel,
                 image_encoder: CLIPVisionModelWithProjection = None,
                 feature_extractor: CLIPImageProcessor = None,
                 force_zeros_for_empty_prompt: bool = False) -> None:
        super().__init__(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                         scheduler=scheduler, image_encoder=image_encoder,
                         feature_extractor=feature_extractor,
                         force_zeros_for_empty_prompt=force_zeros_for_empty_prompt)
        self._register_controlnet(controlnet)

    def __call__(self, *args: Any, image: Any = None, controlnet_conditioning_scale: Any = 1.0,
                 control_guidance_start: Any = 0.0, control_guidance_end: Any = 1.0,
                 **arguments: Any) -> Any:
        if args:
            arguments["prompt"] = args[0]
        return self._guided_call(super().__call__, image, arguments,
                                 controlnet_conditioning_scale, control_guidance_start,
                                 control_guidance_end, None)


class KolorsControlNetImg2ImgPipeline(_ControlNetCalls, KolorsImg2ImgPipeline):
    """Kolors image-to-image guided by ControlNets: ``control_image`` is the control image (a
    list, one per ControlNet, with a MultiControlNetModel)."""

    def __init__(self, vae: AutoencoderKL, text_encoder: ChatGLMModel,
                 tokenizer: ChatGLMTokenizer, unet: UNet2DConditionModel,
                 scheduler: KarrasDiffusionSchedulers,
                 controlnet: ControlNetModel | MultiControlNetModel,
                 image_encoder: CLIPVisionModelWithProjection = None,
                 feature_extractor: CLIPImageProcessor = None,
                 force_zeros_for_empty_prompt: bool = False) -> None:
        super().__init__(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                         scheduler=scheduler, image_encoder=image_encoder,
                         feature_extractor=feature_extractor,
                         force_zeros_for_empty_prompt=force_zeros_for_empty_prompt)
        self._register_controlnet(controlnet)

    def __call__(self, *args: Any, control_image: Any = None,
                 controlnet_conditioning_scale: Any = 1.0, control_guidance_start: Any = 0.0,
                 control_guidance_end: Any = 1.0, **arguments: Any) -> Any:
        if args:
            arguments["prompt"] = args[0]
        return self._guided_call(super().__call__, control_image, arguments,
                                 controlnet_conditioning_scale, control_guidance_start,
                                 control_guidance_end, _first_image(arguments.get("image")))


_with_parameters(KolorsControlNetPipeline.__call__, KolorsPipeline.__call__,
                 ("image", *_CONTROL_PARAMETERS))
_with_parameters(KolorsControlNetImg2ImgPipeline.__call__, KolorsImg2ImgPipeline.__call__,
                 ("control_image", *_CONTROL_PARAMETERS))
