"""Registration module of the ``config-directives`` plugin (light: nothing imported)."""

from dgenerate.plugin_api import DirectiveSpec, hookimpl

# (name, module, function, summary, raw)
_DIRECTIVES = (
    ("set", "variables", "set_variable", "Set a template variable to text (no shell parsing).",
     True),
    ("sete", "variables", "set_parsed", "Set a template variable to the shell-parsed tokens "
                                        "of the value (globs expand).", False),
    ("setp", "variables", "set_evaluated", "Set a template variable to the value of a Python "
                                           "expression.", True),
    ("unset", "variables", "unset_variable", "Remove template variables.", True),
    ("gen_seeds", "variables", "gen_seeds", "Set a template variable to N random seeds.", False),
    ("import", "variables", "import_module", "Import a Python module for templates "
                                             "(\\import numpy as np).", False),
    ("env", "environment", "set_environment", "Set environment variables, or print them all.",
     True),
    ("unset_env", "environment", "unset_environment", "Remove environment variables.", True),
    ("print", "output", "print_text", "Print text after template and variable expansion.",
     True),
    ("echo", "output", "echo", "Print the shell-parsed tokens (shows what globs and quotes "
                               "become).", False),
    ("exec", "execution", "execute", "Run system commands, with pipes and redirections.",
     True),
    ("exit", "control", "exit_script", "End the script, with an exit status (default 0).",
     False),
    ("reset_lineno", "control", "reset_line_number", "Number the following lines from 1 in "
                                                     "messages.", False),
    ("cd", "files", "change_directory", "Change the working directory.", False),
    ("pushd", "files", "push_directory", "Change directory, remembering the current one.",
     False),
    ("popd", "files", "pop_directory", "Return to the directory saved by \\pushd.", False),
    ("pwd", "files", "print_directory", "Print the working directory.", False),
    ("ls", "files", "list_directory", "List folders and files.", False),
    ("mkdir", "files", "make_directories", "Create folders (with their parents).", False),
    ("rm", "files", "remove_files", "Delete files (-r: folders with their content).", False),
    ("rmdir", "files", "remove_directories", "Delete empty folders.", False),
    ("cp", "files", "copy", "Copy a file or folder.", False),
    ("mv", "files", "move", "Move or rename a file or folder.", False),
    ("download", "downloads", "download", "Download a file into the web cache or a folder and "
                                          "store its path in a variable.", False),
    ("import_plugins", "plugins", "import_plugins", "Load plugins; what they add is usable "
                                                    "from the next line.", False),
    ("clear_object_cache", "caches", "clear_object_cache", "Empty the in-memory model caches "
                                                           "(all, or those named).", False),
    ("list_object_caches", "caches", "list_object_caches", "List the in-memory cache names.",
     False),
    ("clear_device_cache", "caches", "clear_device_cache", "Release memory cached on GPU "
                                                           "devices (cuda:0 ...).", False),
    ("save_modules", "modules", "save_modules", "Keep modules of the last invocation's "
                                                "pipeline in saved_modules[VAR].", False),
    ("use_modules", "modules", "use_modules", "Load the next invocation's pipeline with the "
                                              "modules saved in VAR.", False),
    ("clear_modules", "modules", "clear_modules", "Forget saved modules (all, or those "
                                                  "named).", False),
    ("help", "help", "help", "Show dgenerate's help, or the help of the named directives.",
     False),
    ("templates_help", "help", "templates_help", "Show template variables with their types "
                                                 "and values.", False),
)

_HELP_TWINS = ("directives", "functions", "image_processor", "latents_processor",
               "prompt_weighter", "prompt_upscaler", "quantizer", "job_executor", "sub_command")


@hookimpl
def dgenerate_directives():
    for name, module, function, summary, raw in _DIRECTIVES:
        yield DirectiveSpec(name=name, summary=summary, target=f".{module}:{function}", raw=raw)
    for twin in _HELP_TWINS:
        option = "--" + twin.replace("_", "-") + "-help"
        yield DirectiveSpec(name=f"{twin}_help", summary=f"The same as {option}.",
                            target=f".help:{twin}_help")
