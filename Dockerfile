# syntax=docker/dockerfile:1.7
# Two images from one file (docs/ship.md):
#   app:    API, content, publish, sink and evaluator processes (no browser)
#   render: app + Debian chromium, ffmpeg, espeak-ng and fonts (Hangul, emoji, RTL scripts)
# Both run as an unprivileged user with the code and a prebuilt virtualenv only.

ARG PYTHON_IMAGE=python:3.11.7-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_LINK_MODE=copy
WORKDIR /src
RUN pip install --no-cache-dir uv==0.13.9 \
    && python -m venv /opt/venv
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
COPY requirements-runtime.lock pyproject.toml README.md ./
# torch after the sync (sync removes what the lock does not list), CPU build only: from the
# default index a transitive dependency would pull several GB of CUDA.
RUN uv pip sync --python /opt/venv/bin/python requirements-runtime.lock \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
# Every package of the wheel (pyproject's [tool.hatch.build.targets.wheel], a test keeps them
# equal), in layer order (docs/architecture.md).
COPY schemas ./schemas
COPY streams ./streams
COPY warehouse ./warehouse
COPY agents ./agents
COPY connectors ./connectors
COPY observability ./observability
COPY services ./services
COPY factory ./factory
COPY dashboards ./dashboards
# Editable install: dashboards/ and the schema history are read from the source tree.
RUN uv pip install --python /opt/venv/bin/python --no-deps -e /src

FROM ${PYTHON_IMAGE} AS app
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    MUNJERO_DATA_DIR=/var/lib/munjero
RUN groupadd --system --gid 10001 munjero \
    && useradd --system --uid 10001 --gid munjero --home-dir /var/lib/munjero --create-home munjero
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /src /src
WORKDIR /var/lib/munjero
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["munjero"]
CMD ["up"]

FROM app AS render
USER 0:0
# Versions pinned to Debian 12 (bookworm) security updates; bump together with the base image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        chromium=150.0.7871.100-1~deb12u1 \
        ffmpeg=7:5.1.9-0+deb12u1 \
        espeak-ng=1.51+dfsg-10+deb12u2 \
        fonts-nanum=20200506-1 \
        fonts-noto-color-emoji=2.042-0+deb12u1 \
        fonts-noto-core=20201225-1 \
    && rm -rf /var/lib/apt/lists/*
USER 10001:10001
CMD ["worker", "render"]
