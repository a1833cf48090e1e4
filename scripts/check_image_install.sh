#!/usr/bin/env bash
# Runs the container image's install steps (scripts/image_install.sh) into a FRESH virtual
# environment in a temporary directory, exactly as the Dockerfile does, then smoke-checks the
# installed product without the source tree and without build tools (--help, config check, the
# app's import, no torch, the default embedding model working offline, migrations, then `serve`
# probed with the Dockerfile's HEALTHCHECK and /health/ready). `make test` runs it.
#
#   scripts/check_image_install.sh            # keeps nothing; pip's cache makes re-runs fast
#   KEEP_IMAGE_VENV=1 scripts/check_image_install.sh   # leave the venv for inspection
#
# The default image has no torch (SNAPAGENT_EXTRAS unset). With SNAPAGENT_EXTRAS=torch,
# TORCH_PIP_ARGS defaults to "" here: on CI machines pip's configuration supplies the CPU build
# of torch (find-links). A real image build uses the PyTorch CPU index instead (Dockerfile).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
budget_s=${IMAGE_CHECK_TIMEOUT_S:-900}
export TORCH_PIP_ARGS=${TORCH_PIP_ARGS-}

work=$(mktemp -d "${TMPDIR:-/tmp}/snapagent-image-check.XXXXXX")
cleanup() {
    if [[ -z ${KEEP_IMAGE_VENV:-} ]]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

step() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# The build context the Dockerfile copies (the same paths as its COPY lines), nothing else.
step "build context -> $work/src"
mkdir -p "$work/src/scripts"
cp "$root/pyproject.toml" "$root/README.md" "$work/src/"
cp "$root/scripts/image_install.sh" "$root/scripts/dump_openapi.py" "$work/src/scripts/"
tar -C "$root" --exclude='__pycache__' --exclude='*.egg-info' -cf - src | tar -C "$work/src" -xf -

# Build tools must not be needed: any compiler call during the install or at run time fails.
mkdir -p "$work/no-build-tools"
for tool in cc gcc g++ c++ clang make ld; do
    printf '#!/bin/sh\necho "build tool %s invoked: not available in the image" >&2\nexit 97\n' \
        "$tool" >"$work/no-build-tools/$tool"
    chmod +x "$work/no-build-tools/$tool"
done
export PATH="$work/no-build-tools:$PATH" CC="$work/no-build-tools/cc" CXX="$work/no-build-tools/c++"

step "scripts/image_install.sh (fresh venv, time budget ${budget_s}s)"
start=$SECONDS
timeout "$budget_s" bash "$work/src/scripts/image_install.sh" "$work/src" "$work/venv" \
    || fail "image_install.sh failed or exceeded ${budget_s}s"
echo "installed in $((SECONDS - start))s"

# Smoke checks run from an empty directory with a clean environment, like the container:
# the product must come from the venv, never from the source tree.
bin="$work/venv/bin"
run_dir="$work/run"
mkdir -p "$run_dir"
smoke() {
    (cd "$run_dir" && env -i PATH="$work/no-build-tools:$bin:/usr/bin:/bin" HOME="$run_dir" \
        SNAPAGENT_DATA_DIR="$run_dir/data" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
        timeout 300 "$@")
}

step "snapagent --help"
smoke "$bin/snapagent" --help >/dev/null || fail "snapagent --help"

step "snapagent config check"
smoke "$bin/snapagent" config check >"$work/config.txt" || { cat "$work/config.txt"; fail "config check"; }
grep -q "DATABASE_URL" "$work/config.txt" || fail "config check did not list DATABASE_URL"

step "import the app from the installed package (not the source tree)"
smoke "$bin/python" -c '
import pathlib, snapagent
from snapagent.api.app import create_app
location = pathlib.Path(snapagent.__file__).resolve()
assert "site-packages" in location.parts, location
app = create_app()
paths = set(app.openapi()["paths"])
assert {"/health", "/api/v1/chat"} <= paths, sorted(paths)  # /health/ready: probed below
print("app imported from", location.parent)
' || fail "importing the app"

if [[ ,${SNAPAGENT_EXTRAS:-}, == *,torch,* ]]; then
    step "torch is the CPU build"
    smoke "$bin/python" -c '
import torch
assert not torch.cuda.is_available() and torch.version.cuda is None, torch.__version__
print("torch", torch.__version__)
' || fail "torch is not the CPU build"
else
    step "no torch: the default needs none"
    smoke "$bin/python" -c '
import importlib.util
assert importlib.util.find_spec("torch") is None, "torch was installed without the extra"
' || fail "torch is installed without SNAPAGENT_EXTRAS=torch"
fi

step "the default embedding model embeds, offline, from the installed wheel"
smoke "$bin/python" -c '
import asyncio
from snapagent.llm.registry import get_embedding_model
model = get_embedding_model(None)
vector = asyncio.run(model.embed_query("연차는 며칠인가요?"))
assert model.model_id == "local:multilingual-e5-small" and vector.shape == (384,), model
assert model.load().name == "onnxruntime", "the onnxruntime engine did not load (fell back)"
print(model.model_id, vector.shape, model.load().name)
' || fail "the default embedding model does not work"

step "packaged migrations are present"
smoke "$bin/snapagent" db history >/dev/null || fail "snapagent db history"

step "scripts/dump_openapi.py: the schema the image's console build generates its client from"
smoke "$bin/python" "$work/src/scripts/dump_openapi.py" "$work/openapi.json" \
    || fail "dump_openapi.py"
grep -q '"/api/v1/bots"' "$work/openapi.json" || fail "the dumped schema has no /api/v1/bots"

step "snapagent serve answers the Dockerfile's HEALTHCHECK and /health/ready"
# The HEALTHCHECK command exactly as the Dockerfile declares it (exec form, JSON after CMD).
mapfile -d '' -t healthcheck_argv < <(python3 - "$root/Dockerfile" <<'PY'
import json, re, sys
text = re.sub(r"\\\n", " ", open(sys.argv[1], encoding="utf-8").read())
line = next(l for l in text.splitlines() if l.startswith("HEALTHCHECK"))
print("\0".join(json.loads(line.split(" CMD ", 1)[1])), end="")
PY
)
[[ ${healthcheck_argv[0]:-} == python ]] || fail "no exec-form HEALTHCHECK found in the Dockerfile"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$run_dir" && exec env -i PATH="$work/no-build-tools:$bin:/usr/bin:/bin" HOME="$run_dir" \
    SNAPAGENT_DATA_DIR="$run_dir/data" SNAPAGENT_PORT="$port" HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 "$bin/snapagent" serve >"$work/serve.log" 2>&1) &
server=$!
stop_server() { kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null; }
trap 'stop_server; cleanup' EXIT
ready=""
for _ in $(seq 1 120); do
    if smoke env SNAPAGENT_PORT="$port" "${healthcheck_argv[@]}" 2>/dev/null; then
        ready=$(smoke "$bin/python" -c "import urllib.request; print(urllib.request.urlopen(
            'http://127.0.0.1:$port/health/ready', timeout=4).read().decode())") && break
    fi
    kill -0 "$server" 2>/dev/null || break
    sleep 1
done
[[ $ready == *'"status":"ready"'* ]] || { cat "$work/serve.log"; fail "serve did not become ready"; }
echo "$ready"
stop_server || true
trap cleanup EXIT

echo "image install check passed in $SECONDS s"
