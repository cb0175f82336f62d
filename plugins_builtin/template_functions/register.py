"""Registration module of the ``template-functions`` plugin (light: nothing imported)."""

import builtins

from dgenerate.plugin_api import TemplateFunctionSpec, hookimpl

# (name, summary, needs the script context)
_FUNCTIONS = (
    ("import_module", "Import a Python module by name and return it.", False),
    ("unquote", "Shell-parse a string (or each of several) into a list of tokens.", True),
    ("quote", "Shell-quote a string, or several joined by spaces.", False),
    ("format_prompt", "Turn prompt objects back into quoted \"positive; negative\" text.", False),
    ("format_size", "Join dimensions with x: (512, 512) -> 512x512.", False),
    ("align_size", "Round a size down to a multiple of an alignment.", False),
    ("pow2_size", "Round a size to the nearest powers of 2.", False),
    ("image_size", "The width and height of an image file.", False),
    ("size_is_aligned", "Whether a size is a multiple of an alignment.", False),
    ("size_is_pow2", "Whether both dimensions of a size are powers of 2.", False),
    ("format_model_type", "The --model-type text of a model type value.", False),
    ("format_dtype", "The --dtype text of a dtype value.", False),
    ("last", "The last item of an iterable.", False),
    ("first", "The first item of an iterable.", False),
    ("gen_seeds", "A list of N random seeds, as strings.", False),
    ("cwd", "The current working directory.", False),
    ("download", "Download a URL like \\download and return the file's path.", True),
    ("have_feature", "Whether an optional feature (xformers, bitsandbytes ...) is installed.",
     False),
    ("platform", "The operating system: Linux, Darwin, Windows.", False),
    ("frange", "A range of floats: frange(0, 1, 0.25) -> [0.0, 0.25, 0.5, 0.75].", False),
    ("have_cuda", "Whether a CUDA GPU is available.", False),
    ("have_xpu", "Whether an Intel XPU is available.", False),
    ("have_mps", "Whether Apple's MPS is available.", False),
    ("total_memory", "Total memory of a device (or the system) in a unit.", False),
    ("default_device", "The device dgenerate uses by default: cuda, xpu, mps or cpu.", False),
    ("csv", "Join items with commas (for --sigmas and the like).", False),
)

#: Python builtins that templates and \setp may use too.
PYTHON_BUILTINS = (
    "abs", "all", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset",
    "getattr", "hasattr", "hash", "hex", "int", "iter", "len", "list", "map", "max", "min",
    "next", "object", "oct", "ord", "pow", "range", "repr", "reversed", "round", "set",
    "slice", "sorted", "str", "sum", "tuple", "type", "zip",
)


@hookimpl
def dgenerate_template_functions():
    for name, summary, needs_context in _FUNCTIONS:
        yield TemplateFunctionSpec(name=name, summary=summary, target=f".functions:{name}",
                                   needs_context=needs_context)
    for name in PYTHON_BUILTINS:
        yield TemplateFunctionSpec(name=name, summary=f"Python's builtin {name}().",
                                   target=getattr(builtins, name))
