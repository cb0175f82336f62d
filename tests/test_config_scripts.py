"""Config scripts through the command line: the manual's own examples and every directive."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dgenerate.plugin_api.testing import run_cli

from .support import clean_environment, run_dgenerate

pytestmark = pytest.mark.usefixtures("restore_process_state")

ENV = {"DGENERATE_DISABLE_PLUGINS": "*"}


def script(tmp_path: Path, text: str, *arguments: str, name: str = "script.dgen"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return run_cli("--file", str(path), *arguments, env=ENV)


def output(tmp_path: Path, text: str, *arguments: str) -> list[str]:
    result = script(tmp_path, text, *arguments)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


# ------------------------------------------------------------ the manual's examples


def test_manual_set_setp_print_example(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        #! /usr/bin/env dgenerate --file
        \set my_prompt "an astronaut riding a horse; bad quality"
        \set my_prompt "my very very very very very very very \
        very long long prompt"
        \print {{ my_prompt }}
        \setp my_list [1, 2, 3, 4]
        \print {{ my_list | join(' ') }}
        \setp my_list [1, 2, my_list, 4]
        \print {{ my_list }}
        \gen_seeds my_seeds 10
        \print {{ my_seeds | length }}
        """)
    assert lines == ['"my very very very very very very very very long long prompt"',
                     "1 2 3 4", "[1, 2, [1, 2, 3, 4], 4]", "10"]


def test_manual_set_directive_example(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \set my_variable "I am an incomplete string and this is fine because I am a raw value
        \print {{ my_variable }}
        \set my_variable {{ my_variable }}"
        \print {{ my_variable }}
        \set var_name template_variable
        \env ENV_VAR_NAMED=env_var_named
        \set {{ var_name }} Hello!
        \set $ENV_VAR_NAMED Hi!
        \print {{ template_variable }}
        \print {{ env_var_named }}
        """)
    assert lines == ['"I am an incomplete string and this is fine because I am a raw value',
                     '"I am an incomplete string and this is fine because I am a raw value"',
                     "Hello!", "Hi!"]


def test_manual_sete_example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "files"
    folder.mkdir()
    for name in ("file1", "file2"):
        (folder / name).write_text("")
    monkeypatch.chdir(folder)
    lines = output(tmp_path, r"""
        \sete my_variable --argument ./*
        \print {{ my_variable }}
        \set directory .
        \sete my_variable --argument {{ directory }}/*
        \print {{ my_variable }}
        \set var_name template_variable
        \env ENV_VAR_NAMED=env_var_named
        \sete {{ var_name }} ./*
        \sete $ENV_VAR_NAMED ./*
        \print {{ template_variable }}
        \print {{ env_var_named }}
        """)
    assert lines == ["['--argument', './file1', './file2']"] * 2 + ["['./file1', './file2']"] * 2


def test_manual_setp_example(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \setp my_variable 10*10
        \print {{ my_variable }}
        \setp my_variable [my_variable, my_variable*2]
        \print {{ my_variable }}
        \setp my_variable [i for i in range(0,5)]
        \print {{ my_variable }}
        \setp my_variable "my string value"
        \print {{ my_variable }}
        \setp my_variable [my_variable, "{{ my_variable }}"]
        \print {{ my_variable }}
        {% for value in my_variable %}
        \print {{ value }}
        {% endfor %}
        \set var_name template_variable
        \env ENV_VAR_NAMED=env_var_named
        \setp {{ var_name }} "Hello!"
        \setp $ENV_VAR_NAMED [template_variable]
        \print {{ template_variable }}
        \print {{ env_var_named }}
        """)
    assert lines == ["100", "[100, 200]", "[0, 1, 2, 3, 4]", "my string value",
                     "['my string value', 'my string value']", "my string value",
                     "my string value", "Hello!", "['Hello!']"]


def test_manual_env_example(tmp_path: Path) -> None:
    result = script(tmp_path, r"""
        \env MY_ENV_VAR=1 MY_ENV_VAR2=2
        \print $MY_ENV_VAR $MY_ENV_VAR2
        \print {{ env.MY_ENV_VAR }} {{ env.MY_ENV_VAR2 }}
        \set name env_var_name
        \set value Hello!
        \set name_holder {{ name }}
        \env {{ name_holder }}={{ value }}
        \set output ${{ name }}
        \print {{ output }}
        \env NAME_HOLDER=MY_ENV_VAR2
        \unset_env MY_ENV_VAR $NAME_HOLDER {{ name }} NAME_HOLDER
        \env
        """)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == ["1 2", "1 2", "Hello!"]
    printed = lines[3:]
    assert printed and all("=" in line for line in printed)
    assert not any(line.startswith(("MY_ENV_VAR", "NAME_HOLDER", "env_var_name"))
                   for line in printed)


def test_manual_environment_forms(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \env VARIABLE=set
        \print $VARIABLE
        \print ${VARIABLE}
        \print %VARIABLE%
        \print {{ env.VARIABLE }}
        {% for i in range(0, 2) %}
        \print {{ env.VARIABLE }}
        {% endfor %}
        \print [$UNSET_VARIABLE_XYZ] [{{ env.UNSET_VARIABLE_XYZ }}]
        """)
    assert lines == ["set"] * 6 + ["[] []"]


ECHO_ORACLE = [
    (r"\echo iam\'atext\"token", "iam'atext\"token"),
    (r"\echo https://iamaweirdurl.com/\%00\%00\$", "https://iamaweirdurl.com/%00%00$"),
    (r"\echo 'https://iamaweirdurl.com/%00%00$'", "https://iamaweirdurl.com/%00%00$"),
    (r"\echo '\$DO_NOT_EXPAND_ENV_VAR'", "$DO_NOT_EXPAND_ENV_VAR"),
    (r'\echo "this backslash is removed \" from the string"',
     'this backslash is removed " from the string'),
    (r"\echo 'this backslash is removed \" from the string, even though escaping was not "
     r"needed.'",
     'this backslash is removed " from the string, even though escaping was not needed.'),
    (r'''\echo "I want the backslash \\' to stay in my string."''',
     "I want the backslash \\' to stay in my string."),
    (r"""\echo 'I want the backslash \\" to stay in my string.'""",
     'I want the backslash \\" to stay in my string.'),
    (r'\echo test="stringpart"', 'test="stringpart"'),
    (r'\echo te\'st="strin\"gpart"', 'te\'st="strin\\"gpart"'),
    (r'\echo te\'st="strin\"gpart$VARIABLE"', 'te\'st="strin\\"gparttest"'),
    (r'\echo test="\$VARIABLE"', 'test="\\$VARIABLE"'),
    (r"\echo test='$VARIABLE'", "test='$VARIABLE'"),
    (r'''\echo test="\% Hello \' World!"''', 'test="\\% Hello \\\' World!"'),
    (r"\echo d*'.tar'", "devscripts.tar dgenerate.tar docker.tar docs.tar"),
    (r"\echo d*'.$VARIABLE'", "devscripts.test dgenerate.test docker.test docs.test"),
    (r'\echo d*".\$VARIABLE"',
     "devscripts.$VARIABLE dgenerate.$VARIABLE docker.$VARIABLE docs.$VARIABLE"),
    (r"\echo d*'.\'hello\''", "devscripts.'hello' dgenerate.'hello' docker.'hello' docs.'hello'"),
    (r"\echo d*'.\"hello\"'", 'devscripts."hello" dgenerate."hello" docker."hello" docs."hello"'),
]


def test_manual_escaping_examples(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("devscripts", "dgenerate", "docker", "docs"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path)
    text = "\\env VARIABLE=test\n" + "\n".join(line for line, _ in ECHO_ORACLE) + "\n"
    assert output(tmp_path, text) == [expected for _, expected in ECHO_ORACLE]


def test_manual_print_and_echo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "directory"
    folder.mkdir()
    for name in ("file1", "file2"):
        (folder / name).write_text("")
    monkeypatch.chdir(tmp_path)
    lines = output(tmp_path, r"""
        \print I am a raw value, I have no ability to * glob
        \set header Files:
        \echo {{ header }} directory/*
        \echo directory/*
        """)
    assert lines == ["I am a raw value, I have no ability to * glob",
                     "Files: directory/file1 directory/file2", "directory/file1 directory/file2"]


def test_manual_tail_comment_cases(tmp_path: Path) -> None:
    lines = output(tmp_path, r'''
        \set test_var "hello # world!" # this tail comment will be removed
        \print {{ test_var }}
        \set test_var "hello # world!" "I have \# an escaped comment token # removed
        \print {{ test_var }}
        \set test_var hello \# world! # this tail comment will be removed
        \print {{ test_var }}
        \set test_var "I want a literal hashtag here \# \ # and then a comment
                       but not in my continuation!" # even more comments!
        \print {{ test_var }}
        \set test_var hello \# world!    \# a literal hashtag # and a comment
        \print {{ test_var }}
        \set test_var "hello \# world! # I am now a comment
        \print {{ test_var }}
        {% if test_var != '"hello # world!' %} # a comment after a tag
        \print FAILED
        {% endif %}
        ''')
    assert lines == ['"hello # world!"', '"hello # world!" "I have # an escaped comment token',
                     "hello # world!",
                     '"I want a literal hashtag here # but not in my continuation!"',
                     "hello # world!    # a literal hashtag", '"hello # world!']


# ------------------------------------------------------------------ directives


def test_exit_status_and_nothing_after_it(tmp_path: Path) -> None:
    result = script(tmp_path, "\\print before\n\\exit 3\n\\print after\n")
    assert (result.exit_code, result.stdout) == (3, "before\n")
    assert script(tmp_path, "\\exit\n").exit_code == 0


def test_unset_and_templates_help(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \set greeting hi
        \setp number 42
        \templates_help greeting number
        \unset greeting
        {% if greeting is not defined %}
        \print gone
        {% endif %}
        """)
    assert lines == ["Config template variables:", '    Name: "greeting"', "        Type: str",
                     "        Value: 'hi'", '    Name: "number"', "        Type: int",
                     "        Value: 42", "gone"]


def test_import_and_import_module(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \import numpy as np
        \setp arr np.array([1, 2, 3]) * 2
        \print {{ arr.tolist() }}
        \import os.path
        \print {{ os.path.basename('/a/b.txt') }}
        \setp json import_module('json')
        \print {{ json.dumps([1]) }}
        """)
    assert lines == ["[2, 4, 6]", "b.txt", "[1]"]


def test_file_directives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    lines = output(tmp_path, r"""
        \mkdir a/b c
        \pushd a
        \pwd
        \cp ../script.dgen b/copy.dgen
        \ls b
        \popd
        \mv c d
        \ls
        \rm a/b/copy.dgen
        \rmdir a/b
        \rm -r a
        \cd d
        \pwd
        """)
    assert lines == [str(tmp_path / "a"), "copy.dgen", "a/", "d/", "script.dgen",
                     str(tmp_path / "d")]


@pytest.mark.parametrize(("text", "message"), [
    ("\\popd", "the directory stack is empty"),
    ("\\cd nowhere", "cannot enter 'nowhere'"),
    ("\\rm missing.txt", "'missing.txt' does not exist"),
    ("\\mkdir", "usage is \\mkdir FOLDER..."),
    ("\\unset nothing", "there is no template variable 'nothing'"),
    ("\\setp x 1 +", "cannot evaluate '1 +'"),
    ("\\setp x undefined_name", "cannot evaluate 'undefined_name'"),
    ("\\set 9bad value", "'9bad' is not a valid variable name"),
    ("\\gen_seeds x", "usage is \\gen_seeds NAME COUNT"),
    ("\\import no_such_module_xyz", "cannot import 'no_such_module_xyz'"),
    ("\\exit no", "usage is \\exit [STATUS]"),
    ("\\echo 'unterminated", "is never closed"),
    ("\\echo *.nothing-matches", "the glob '*.nothing-matches' matches no files"),
    ("\\prnt hello", "unknown directive \\prnt; did you mean \\print?"),
    ("\\print {{ undefined_variable.attribute }}", "'undefined_variable' is undefined"),
    ("\\exit 256", "the status '256' is above 255"),
    ("\\exit -1", "usage is \\exit [STATUS], STATUS a whole number from 0 to 255"),
    ("\\print {{ 1 + }}", "template syntax error"),
    ("\\clear_object_cache nonsense", "unknown object cache 'nonsense'"),
    ("\\exec false", "\\exec failed with exit status 1"),
    ("\\exec no-such-program-xyz", "cannot run 'no-such-program-xyz'"),
    ("\\exec echo a |", "a command is missing"),
])
def test_directive_errors_name_file_line_and_text(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, text: str,
                                                  message: str) -> None:
    monkeypatch.chdir(tmp_path)
    result = script(tmp_path, f"\\print first\n\n{text}\n\\print never\n")
    assert result.exit_code == 1
    assert result.stdout == "first\n"
    assert result.stderr.startswith(f"dgenerate: error: {tmp_path / 'script.dgen'}, line 3: ")
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_exec_pipes_and_redirections(tmp_path: Path) -> None:
    # a subprocess: the commands write to the real standard output
    (tmp_path / "script.dgen").write_text(textwrap.dedent(r"""
        \exec python -c "print('b'); print('a')" | sort > sorted.txt
        \exec python -c "import sys; print('oops', file=sys.stderr)" 2> err.txt
        \exec python -c "import sys; print('both'); print('x', file=sys.stderr)" &> all.txt
        \exec python -c "print('again')" >> sorted.txt
        \exec sort < sorted.txt
        \exec python -c "import sys; print(sys.executable)"
        """))
    result = run_dgenerate("--file", "script.dgen", cwd=tmp_path,
                           env=clean_environment(DGENERATE_DISABLE_PLUGINS="*"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert (tmp_path / "sorted.txt").read_text() == "a\nb\nagain\n"
    assert (tmp_path / "err.txt").read_text() == "oops\n"
    assert sorted((tmp_path / "all.txt").read_text().split()) == ["both", "x"]
    assert lines[:3] == ["a", "again", "b"]
    assert os.path.dirname(lines[3]) == os.path.dirname(sys.executable)


def test_list_object_caches_and_help_twins(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \list_object_caches
        \clear_object_cache
        \clear_object_cache vae unet
        \image_processor_help flip
        \directives_help print
        """)
    assert "pipeline" in lines and "vae" in lines
    assert "flip:" in lines
    assert "\\print:" in lines


def test_import_plugins_works_on_the_next_line(tmp_path: Path) -> None:
    plugin = tmp_path / "late.py"
    plugin.write_text(textwrap.dedent("""
        from dgenerate.plugin_api import DirectiveSpec, TemplateFunctionSpec, hookimpl

        def shout(text):
            return text.upper()

        def hello(context, args):
            print("hello", *args)

        @hookimpl
        def dgenerate_template_functions():
            yield TemplateFunctionSpec(name="shout", summary="s", target=shout)

        @hookimpl
        def dgenerate_directives():
            yield DirectiveSpec(name="hello", summary="s", target=hello)
        """))
    lines = output(tmp_path, r"""
        \import_plugins late.py
        \hello world
        \print {{ shout('quiet') }} {{ 'filter' | shout }}
        """)
    assert lines == ["hello world", "QUIET FILTER"]


# -------------------------------------------------------------- template functions


def test_template_functions(tmp_path: Path, media: Path) -> None:
    lines = output(tmp_path, rf"""
        \print {{{{ quote('a b') }}}} {{{{ quote(['x', "it's"]) }}}} {{{{ 'plain' | quote }}}}
        \sete parsed {{{{ quote("it's a 'test'") }}}}
        \print {{{{ parsed }}}}
        \print {{{{ unquote("a 'b c' d") }}}}
        \print {{{{ format_size((512, 768)) }}}} {{{{ align_size('700x701', 8) }}}}
        \print {{{{ pow2_size('700x300') }}}} {{{{ size_is_aligned('64x64', 8) }}}}
        \print {{{{ size_is_pow2('64x48') }}}} {{{{ image_size('{media / "horse1.jpg"}') }}}}
        \print {{{{ first([1, 2]) }}}} {{{{ last([1, 2]) }}}} {{{{ csv([1.5, 2]) }}}}
        \print {{{{ frange(0, 1, 0.25) }}}} {{{{ frange(0.3) }}}}
        \print {{{{ platform() }}}} {{{{ default_device() }}}} {{{{ have_cuda() }}}}
        \print {{{{ have_feature('xformers') }}}} {{{{ total_memory(unit='gib') > 1 }}}}
        \print {{{{ gen_seeds(3) | length }}}} {{{{ cwd() == os.getcwd() }}}}
        \print {{{{ format_dtype('torch.float16') }}}} {{{{ format_model_type('sd') }}}}
        \print {{{{ len([1, 2]) }}}} {{{{ sorted([2, 1]) }}}} {{{{ max(1, 5) }}}}
        """)
    assert lines == [
        "'a b' x 'it\\'s' plain", "[\"it's a 'test'\"]", "['a', 'b c', 'd']",
        "512x768 696x696", "512x256 True", "False 1279x719", "1 2 1.5,2",
        "[0.0, 0.25, 0.5, 0.75] [0.0, 0.1, 0.2]", "Linux cpu False", "False True",
        "3 True", "float16 sd", "2 [1, 2] 5"]


def test_format_prompt_round_trip(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \setp prompt_list [Prompt("a 'cat'", "blurry")]
        \sete parsed {{ format_prompt(prompt_list) }}
        \print {{ parsed }}
        """.replace("Prompt(", "import_module('dgenerate.plugin_api').Prompt("))
    assert lines == ["[\"a 'cat'; blurry\"]"]


# -------------------------------------------------- running scripts: modes and options


def test_set_and_setp_apply_in_order(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \print {{ base_value }} {{ calculated }} {{ final_prompt }}
        """, "--setp", "base_value=10", "--setp", "calculated=base_value * 2",
                   "--set", "final_prompt=The result is {{ calculated }}")
    assert lines == ["10 20 The result is 20"]
    text = output(tmp_path, "\\print {{ value * 2 }}\n", "--set", "value=10")
    assert text == ["1010"]  # --set stores text


def test_injected_arguments(tmp_path: Path) -> None:
    lines = output(tmp_path, r"""
        \print {{ injected_args }} {{ injected_verbose }} {{ injected_plugin_modules }}
        \print {{ injected_device }}
        """, "--inference-steps", "5", "--device", "cpu")
    assert lines == ["['--inference-steps', '5', '--device', 'cpu'] False []", "cpu"]


def test_several_files_and_globs(tmp_path: Path) -> None:
    (tmp_path / "a.dgen").write_text("\\print a\n")
    (tmp_path / "b.dgen").write_text("\\print b\n")
    result = run_cli("--file", str(tmp_path / "*.dgen"), env=ENV)
    assert result.stdout == "a\nb\n"
    missing = run_cli("--file", str(tmp_path / "none*.dgen"), env=ENV)
    assert missing.exit_code == 1 and "no such file" in missing.stderr


def test_meta_options_are_refused_inside_scripts(tmp_path: Path) -> None:
    result = script(tmp_path, "some/model --file x.dgen\n")
    assert result.exit_code == 1
    assert "--file can only be given on the command line" in result.stderr
    usage = script(tmp_path, "some/model --no-such-option\n")
    assert usage.exit_code == 1
    assert "line 1: some/model --no-such-option: unrecognized arguments" in usage.stderr


def test_version_line_warning(tmp_path: Path) -> None:
    result = script(tmp_path, "\\print ok\n#! dgenerate 6.1.0\n")
    assert result.exit_code == 0 and result.stdout == "ok\n"
    assert f"{tmp_path / 'script.dgen'}, line 2: the script was written for dgenerate 6.1.0" in (
        result.stderr)


@pytest.mark.parametrize("version", ["5.0.0", "5.4.2"])
def test_scripts_written_for_dgenerate_5_run_without_a_warning(tmp_path: Path,
                                                               version: str) -> None:
    result = script(tmp_path, f"#! /usr/bin/env dgenerate --file\n#! dgenerate {version}\n"
                              "\\print ok\n")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "ok\n", "")


def test_undefined_variables_expand_to_nothing_with_one_warning_each(tmp_path: Path) -> None:
    result = script(tmp_path, """\
        \\print [{{ auth_token }}]
        \\print [{{ auth_token }}{{ other }}]
        {% for item in missing_list %}
        \\print never
        {% endfor %}
        \\print {{ 'yes' if maybe is defined else 'no' }} {{ 'set' if maybe else 'unset' }}
        """)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == ["[]", "[]", "no unset"]
    warnings = [line for line in result.stderr.splitlines() if "is not defined" in line]
    where = tmp_path / "script.dgen"
    assert warnings == [
        f"dgenerate: warning: {where}, line 1: the template variable 'auth_token' is not "
        "defined, so it expands to nothing (--strict-templates makes this an error)",
        f"dgenerate: warning: {where}, line 2: the template variable 'other' is not defined, "
        "so it expands to nothing (--strict-templates makes this an error)",
        f"dgenerate: warning: {where}, line 3: the template variable 'missing_list' is not "
        "defined, so it expands to nothing (--strict-templates makes this an error)"]


@pytest.mark.parametrize(("arguments", "environment"), [
    (("--strict-templates",), {}), ((), {"DGENERATE_STRICT_TEMPLATES": "1"})])
def test_strict_templates_make_undefined_variables_errors(tmp_path: Path, arguments: tuple,
                                                          environment: dict) -> None:
    path = tmp_path / "strict.dgen"
    path.write_text("\\print {{ 'fine' if x is not defined }}\n\\print {{ auth_token }}\n"
                    "\\print never\n")
    result = run_cli("--file", str(path), *arguments, env={**ENV, **environment})
    assert (result.exit_code, result.stdout) == (1, "fine\n")
    assert f"{path}, line 2: " in result.stderr and "'auth_token' is undefined" in result.stderr


@pytest.mark.parametrize("name", ["nested", "symtable", "user_symbols", "config", "writer",
                                  "minimal", "use_numpy"])
def test_setp_variables_never_collide_with_the_evaluator(tmp_path: Path, name: str) -> None:
    lines = output(tmp_path, f"""\
        \\setp {name} [1, 2]
        \\setp total {name} + [3]
        \\print {{{{ {name} }}}} {{{{ total }}}}
        """)
    assert lines == ["[1, 2] [1, 2, 3]"]


def test_binary_files_and_folders_are_not_scripts(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    (tmp_path / "latin1.dgen").write_bytes(b"\\print caf\xe9\n")
    (tmp_path / "folder").mkdir()
    cases = [(str(tmp_path / "image.png"), "is not a config script: it is a binary file"),
             (str(tmp_path / "latin1.dgen"), "is not UTF-8 text (byte 11 is 0xe9)"),
             (str(tmp_path / "folder"), "is a folder; give config script files")]
    for path, message in cases:
        result = run_cli("--file", path, env=ENV)
        assert result.exit_code == 1, path
        assert result.stderr.startswith(f"dgenerate: error: --file {path!r}")
        assert message in result.stderr and "Traceback" not in result.stderr
    piped = subprocess.run([str(Path(sys.executable).with_name("dgenerate"))],
                           input=b"\x00\x01binary", capture_output=True,
                           env=clean_environment(DGENERATE_DISABLE_PLUGINS="*"), check=False)
    assert piped.returncode == 1
    assert b"standard input is not a config script: it is a binary file" in piped.stderr


def test_only_exact_option_names_are_taken_from_the_command_line(tmp_path: Path) -> None:
    lines = output(tmp_path, "\\print {{ injected_args }} {{ injected_verbose }}\n",
                   "-o", "out", "-vt", "-vs", "-var", "fp16", "--set", "x=1", "-v")
    assert lines == ["['-o', 'out', '-vt', '-vs', '-var', 'fp16'] True"]


def test_stdin_and_shell_modes(tmp_path: Path) -> None:
    environment = clean_environment(DGENERATE_DISABLE_PLUGINS="*")
    piped = subprocess.run([str(Path(sys.executable).with_name("dgenerate"))],
                           input="\\print from stdin\n", capture_output=True, text=True,
                           env=environment, check=False)
    assert (piped.returncode, piped.stdout) == (0, "from stdin\n")
    shell = subprocess.run(
        [str(Path(sys.executable).with_name("dgenerate")), "--shell"],
        input="\\set x 1\n\n\\print {{ x }}\n\n\\print {{ nope.x }}\n\n\\print still here\n",
        capture_output=True, text=True, env=environment, check=False)
    assert shell.returncode == 0
    assert shell.stdout == "1\nstill here\n"
    assert "'nope' is undefined" in shell.stderr
    no_stdin = run_dgenerate("--no-stdin", env=environment)
    assert no_stdin.returncode == 2


def test_startup_script(tmp_path: Path) -> None:
    home = tmp_path / "home"
    environment = clean_environment(HOME=str(home), DGENERATE_DISABLE_PLUGINS="*")
    first = run_dgenerate("--image-processor-help", env=environment)
    assert first.returncode == 0
    init = home / ".dgenerate" / "init.dgen"
    assert init.read_text().startswith("# dgenerate runs this config script every time")
    init.write_text("\\set from_init yes\n\\env FROM_INIT=1\n")
    (tmp_path / "s.dgen").write_text("\\print {{ from_init }} $FROM_INIT\n")
    ran = run_dgenerate("--file", str(tmp_path / "s.dgen"), env=environment)
    assert (ran.returncode, ran.stdout) == (0, "yes 1\n")
    init.write_text("\\print {{ broken\n")
    warned = run_dgenerate("--file", str(tmp_path / "s.dgen"), "--strict-templates",
                           env=environment)
    assert warned.returncode == 1  # the variable from init is gone now
    assert "warning: the startup script failed" in warned.stderr
    assert "'from_init' is undefined" in warned.stderr


def test_jinja_filters_keep_their_meaning_beside_template_functions(tmp_path: Path) -> None:
    lines = output(tmp_path, """\
        \\setp seeds [3, 4]
        \\print {{ seeds | map("string") | join(",") }} {{ seeds | sum }} {{ 2.6 | round }}
        \\print {{ "a b" | quote }} {{ max(seeds) }} {{ seeds | list | length }}
        """)
    assert lines == ["3,4 7 3.0", "'a b' 4 2"]
