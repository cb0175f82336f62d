"""Package list for setuptools.

pyproject.toml maps the three code folders onto the ``dgenerate.*`` namespace
(``package-dir``); setuptools cannot rename what ``packages.find`` discovers, so
the mapped package names are computed here. Everything else lives in pyproject.toml.
"""

from setuptools import find_packages, setup

FOLDERS = ("kernel", "plugin_api", "plugins_builtin")

packages = [
    f"dgenerate.{name}"
    for name in find_packages(include=[f"{folder}*" for folder in FOLDERS])
]

setup(packages=packages)
