#!/usr/bin/env bash
# Set up dgenerate in ./.venv (editable install).
#
#   bash tools/install.sh          runtime install
#   bash tools/install.sh --dev    runtime + test/lint tools
#
# torch and torchvision are pinned to the releases this machine keeps on local disk,
# so pip takes them from there instead of downloading several GB.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=""
if [ "${1:-}" = "--dev" ]; then
    extras="[dev]"
fi

python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi

install() {
    # pip warns about every missing entry of this machine's local package index; hide that noise
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "$@" \
        2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
install "torch==2.14.1" "torchvision==0.29.1"
install -e ".${extras}"
