"""The render options of the main command (the kernel's; plugins add their own)."""

from __future__ import annotations

import argparse

__all__ = ["IMAGE_FORMATS", "METADATA_FORMATS", "TENSOR_FORMATS", "add_render_options"]

# Image formats Pillow can write that --image-format accepts, shared with plugins through
# the plugin API; the tensor formats write latents.
from dgenerate.plugin_api.diffusion.latents_files import TENSOR_EXTENSIONS as TENSOR_FORMATS
from dgenerate.plugin_api.media import IMAGE_FORMATS

#: Formats that can carry --output-metadata / --output-auto1111-metadata.
METADATA_FORMATS = ("png", "jpg", "jpeg")


def add_render_options(parser: argparse.ArgumentParser) -> None:
    """Declare the options of one render (model loading, the grid, inputs, outputs)."""
    model = parser.add_argument_group("model loading")
    model.add_argument("-mt", "--model-type", metavar="MODEL_TYPE",
                       help="The family of the model; see the model types installed with "
                            "--model-type help. (default: the one marked as the default there)")
    model.add_argument("-rev", "--revision", default="main", metavar="BRANCH",
                       help="Git branch or tag of a Hugging Face repository. (default: main)")
    model.add_argument("-var", "--variant", metavar="VARIANT",
                       help="Load weight files of this variant (e.g. fp16); when the model has "
                            "none, the plain files are used.")
    model.add_argument("-sbf", "--subfolder", metavar="SUBFOLDER",
                       help="Load the model from this subfolder of the repository or folder.")
    model.add_argument("-atk", "--auth-token", metavar="TOKEN",
                       help="Hugging Face token for gated repositories (default: $HF_TOKEN).")
    model.add_argument("-t", "--dtype", default="auto",
                       choices=("auto", "bfloat16", "float16", "float32"),
                       help="Precision of the model weights; auto is float16 on GPUs and float32 "
                            "on the CPU. (default: auto)")
    model.add_argument("-d", "--device", metavar="DEVICE",
                       help="cpu, cuda, cuda:N, mps or xpu[:N]. (default: cuda if available, then "
                            "xpu, then mps, else cpu)")
    model.add_argument("-q", "--quantizer", metavar="QUANTIZER_URI",
                       help="Quantize the model's weights while they load, with this quantizer "
                            "plugin (see --quantizer-help).")
    model.add_argument("-pw", "--prompt-weighter", metavar="PROMPT_WEIGHTER_URI",
                       dest="prompt_weighter_uri",
                       help="Read weights in the prompts with this prompt weighter plugin (see "
                            "--prompt-weighter-help); <weighter: URI> in a prompt chooses one "
                            "for that prompt.")
    model.add_argument("-pu", "--prompt-upscaler", "--prompt-upscalers", nargs="+",
                       metavar="PROMPT_UPSCALER_URI", dest="prompt_upscaler_uri",
                       help="Rewrite or expand every prompt with these prompt upscaler plugins, "
                            "in order, before the jobs are built (see --prompt-upscaler-help); "
                            "<upscaler: URI> in a prompt chooses its own chain.")
    model.add_argument("--job-executor", metavar="JOB_EXECUTOR_URI", default="local",
                       help="Run the jobs with this job executor plugin. (default: local)")

    grid = parser.add_argument_group("values to try (every combination is rendered)")
    grid.add_argument("-p", "--prompts", nargs="+", metavar="PROMPT",
                      help='Prompts to try, each "positive; negative". <name: value> in a prompt '
                           "sets an option for that prompt only, e.g. <inference-steps: 50>. "
                           "(default: an empty prompt)")
    # --seeds/--gen-seeds and -om/-oam exclude each other; that is checked with the other
    # values (exit status 1 and a message naming both), not by argparse groups (status 2)
    grid.add_argument("-se", "--seeds", nargs="+", metavar="SEED",
                       help="Seeds to try; the same seed and options give the same image. "
                            "(default: one random seed)")
    grid.add_argument("-gse", "--gen-seeds", metavar="COUNT", help="Try this many random seeds.")
    grid.add_argument("-sei", "--seeds-to-images", action="store_true",
                      help="Give each --image-seeds entry its own seed, in order, instead of "
                           "trying every seed with every entry.")
    grid.add_argument("-ifs", "--inference-steps", nargs="+", metavar="INTEGER",
                      help="Numbers of denoising steps to try. (default: 30)")
    grid.add_argument("-gs", "--guidance-scales", nargs="+", metavar="FLOAT",
                      help="Classifier-free guidance scales to try. (default: 5)")
    grid.add_argument("-iss", "--image-seed-strengths", nargs="+", metavar="FLOAT",
                      help="img2img / inpaint strengths to try, above 0 and at most 1: near 0 "
                           "keeps the input, 1 ignores it. (default: 0.8)")
    grid.add_argument("-sch", "--scheduler", "--schedulers", dest="schedulers", nargs="+",
                      metavar="SCHEDULER_URI",
                      help="Schedulers to try, as NAME;arg=value URIs. 'help' lists the "
                           "schedulers the model accepts, 'helpargs' also their arguments.")
    grid.add_argument("-si", "--sigmas", nargs="+", metavar="CSV_FLOAT_OR_EXPRESSION",
                      help='Custom sigma schedules to try: "1.0,0.5,0.1" or an expression '
                           '"expr: sigmas * 0.95" over the scheduler\'s own sigmas (with a '
                           'selection of numpy math as np).')

    inputs = parser.add_argument_group("input images")
    inputs.add_argument("-is", "--image-seeds", nargs="+", metavar="SEED",
                        help='Input images: "image" (img2img), "image;mask" (inpaint), '
                             '"image;WxH", keyword forms and "images: a, b" batches. Each is '
                             "rendered in turn.")
    inputs.add_argument("-fs", "--frame-start", metavar="FRAME_NUMBER",
                        help="First frame of animated inputs to use, counting from 0. "
                             "(default: 0)")
    inputs.add_argument("-fe", "--frame-end", metavar="FRAME_NUMBER",
                        help="Last frame of animated inputs to use (included). (default: the "
                             "last frame)")
    inputs.add_argument("-sip", "--seed-image-processors", nargs="+", metavar="PROCESSOR_URI",
                        help="Image processors for the img2img images; '+' separates chains for "
                             "several inputs.")
    inputs.add_argument("-mip", "--mask-image-processors", nargs="+", metavar="PROCESSOR_URI",
                        help="Image processors for the inpaint masks; '+' separates chains.")
    inputs.add_argument("-cip", "--control-image-processors", nargs="+",
                        metavar="PROCESSOR_URI",
                        help="Image processors for the control images (of ControlNets, T2I "
                             "adapters ...); '+' separates chains for several control images.")
    inputs.add_argument("-pp", "--post-processors", nargs="+", metavar="PROCESSOR_URI",
                        help="Image processors for every generated image, before it is saved.")

    sizes = parser.add_argument_group("batches and sizes")
    sizes.add_argument("-bs", "--batch-size", metavar="INTEGER",
                       help="Images generated together in each step. (default: 1)")
    sizes.add_argument("-bgs", "--batch-grid-size", metavar="SIZE",
                       help="Put a batch into one COLUMNSxROWS grid image instead of separate "
                            "files.")
    sizes.add_argument("-s", "--output-size", metavar="SIZE",
                       help="Output size WIDTHxHEIGHT (or one number), a multiple of 8. Input "
                            "images are resized to it. (default: the model's native size, or "
                            "the input image size)")
    sizes.add_argument("-na", "--no-aspect", action="store_true",
                       help="Resize input images to exactly --output-size instead of keeping "
                            "their aspect ratio.")

    output = parser.add_argument_group("output")
    output.add_argument("-o", "--output-path", default="output", metavar="PATH",
                        help="Folder to write to, created when missing. (default: output)")
    output.add_argument("-op", "--output-prefix", metavar="PREFIX",
                        help="Put PREFIX_ in front of every file name.")
    output.add_argument("-ox", "--output-overwrite", action="store_true",
                        help="Overwrite existing files instead of adding _duplicate_N.")
    output.add_argument("--skip-existing", action="store_true",
                        help="Skip the jobs whose files are already in the output folder, to "
                             "resume an interrupted run (give the same --seeds).")
    output.add_argument("-if", "--image-format", default="png", metavar="FORMAT",
                        help="File format of the images (png, jpg, webp ...); pt, pth or "
                             "safetensors write latents. (default: png)")
    output.add_argument("-af", "--animation-format", default="mp4", metavar="FORMAT",
                        help="File format of animations made from animated inputs: mp4, gif, "
                             "webp, apng or png (APNG), or frames for frame images only. "
                             "(default: mp4)")
    output.add_argument("-nf", "--no-frames", action="store_true",
                        help="Write only the animation file, not each frame as an image.")
    output.add_argument("-oc", "--output-configs", action="store_true",
                        help="Write beside each image a config script that renders it again.")
    output.add_argument("-om", "--output-metadata", action="store_true",
                        help="Store that config script in the image (PNG text DgenerateConfig, "
                             "JPEG EXIF UserComment).")
    output.add_argument("-oam", "--output-auto1111-metadata", action="store_true",
                        help="Store Automatic1111-style 'parameters' metadata (read by CivitAI).")
    output.add_argument("--dry-run", action="store_true",
                        help="Print the planned jobs and their file names, then exit without "
                             "loading a model.")
