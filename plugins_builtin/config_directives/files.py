"""Directives for folders and files, so scripts stay portable between shells."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from dgenerate.plugin_api import DgenerateError, DirectiveContext

_STACK = "_directory_stack"


def _one(directive: str, args: Sequence[str], what: str) -> str:
    if len(args) != 1:
        raise DgenerateError(f"\\{directive}: usage is \\{directive} {what}")
    return args[0]


def _chdir(directive: str, path: str) -> None:
    try:
        os.chdir(os.path.expanduser(path))
    except OSError as error:
        raise DgenerateError(f"\\{directive}: cannot enter {path!r}: {error.strerror}") from None


def change_directory(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\cd FOLDER

    Change the working directory.
    """
    _chdir("cd", _one("cd", args, "FOLDER"))


def push_directory(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\pushd FOLDER

    Remember the working directory, then change to FOLDER; \\popd returns.
    """
    folder = _one("pushd", args, "FOLDER")
    stack = context.variables.setdefault(_STACK, [])
    previous = os.getcwd()
    _chdir("pushd", folder)
    stack.append(previous)


def pop_directory(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\popd

    Return to the directory remembered by the last \\pushd.
    """
    stack = context.variables.get(_STACK) or []
    if not stack:
        raise DgenerateError("\\popd: the directory stack is empty (no \\pushd before)")
    _chdir("popd", stack.pop())


def print_directory(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\pwd

    Print the working directory.
    """
    print(os.getcwd())


def list_directory(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\ls [PATH...]

    List the content of folders (names sorted, folders with a trailing /), or
    print the paths of files.
    """
    for path in args or ["."]:
        if os.path.isdir(path):
            if len(args) > 1:
                print(f"{path}:")
            for name in sorted(os.listdir(path)):
                suffix = "/" if os.path.isdir(os.path.join(path, name)) else ""
                print(name + suffix)
        elif os.path.exists(path):
            print(path)
        else:
            raise DgenerateError(f"\\ls: {path!r} does not exist")


def make_directories(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\mkdir FOLDER...

    Create folders, with their missing parents; existing ones are fine.
    """
    if not args:
        raise DgenerateError("\\mkdir: usage is \\mkdir FOLDER...")
    for path in args:
        try:
            os.makedirs(path, exist_ok=True)
        except OSError as error:
            raise DgenerateError(f"\\mkdir: cannot create {path!r}: {error.strerror}") from None


def remove_files(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\rm [-r] PATH...

    Delete files; with -r also folders and everything in them.
    """
    recursive = bool(args) and args[0] == "-r"
    paths = args[1:] if recursive else args
    if not paths:
        raise DgenerateError("\\rm: usage is \\rm [-r] PATH...")
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            if not recursive:
                raise DgenerateError(f"\\rm: {path!r} is a folder; use \\rm -r or \\rmdir")
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
        else:
            raise DgenerateError(f"\\rm: {path!r} does not exist")


def remove_directories(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\rmdir FOLDER...

    Delete empty folders.
    """
    if not args:
        raise DgenerateError("\\rmdir: usage is \\rmdir FOLDER...")
    for path in args:
        try:
            os.rmdir(path)
        except OSError as error:
            raise DgenerateError(f"\\rmdir: cannot remove {path!r}: {error.strerror}") from None


def _source_and_target(directive: str, args: Sequence[str]) -> tuple[str, str]:
    if len(args) != 2:
        raise DgenerateError(f"\\{directive}: usage is \\{directive} SOURCE TARGET")
    if not os.path.lexists(args[0]):
        raise DgenerateError(f"\\{directive}: {args[0]!r} does not exist")
    return args[0], args[1]


def copy(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\cp SOURCE TARGET

    Copy a file (into TARGET if it is a folder) or a whole folder.
    """
    source, target = _source_and_target("cp", args)
    try:
        if os.path.isdir(source):
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target)
    except OSError as error:
        raise DgenerateError(f"\\cp: cannot copy {source!r}: {error}") from None


def move(context: DirectiveContext, args: Sequence[str]) -> None:
    """\\mv SOURCE TARGET

    Move or rename a file or folder (into TARGET if it is a folder).
    """
    source, target = _source_and_target("mv", args)
    try:
        shutil.move(source, target)
    except OSError as error:
        raise DgenerateError(f"\\mv: cannot move {source!r}: {error}") from None
