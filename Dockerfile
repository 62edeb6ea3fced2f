# syntax=docker/dockerfile:1.7
# One image recipe for every ZipBob service; build from the repository root so the shared
# package is in the context:
#   docker build --build-arg SERVICE=gateway --build-arg PORT=8080 -t zipbob/gateway .
# SERVICE is gateway | catalog | review | resizer; PORT is the port it listens on (8080-8083;
# Knative's $PORT wins for the resizer).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN test -n "${SERVICE}" || (echo "build with --build-arg SERVICE=<gateway|catalog|review|resizer>" >&2; exit 1)
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY requirements.lock ./
COPY libs/zipbob-platform/ libs/zipbob-platform/
COPY services/${SERVICE}/ services/${SERVICE}/
# Only what this service declares is installed, each at the version the lock pins; test and
# developer tools in the lock stay out of the image. Bytecode is compiled on purpose: without
# it the resizer's Knative cold start measured 2.5-3.4 s instead of about 1 s.
RUN pip install --constraint requirements.lock ./libs/zipbob-platform ./services/${SERVICE} \
 && pip uninstall --yes pip setuptools wheel \
 && python -m compileall -q -j 0 /opt/venv/lib

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
ARG PORT=8080
LABEL org.opencontainers.image.title="zipbob-${SERVICE}" \
      org.opencontainers.image.source="https://github.com/zipbob/zipbob-commerce" \
      org.opencontainers.image.licenses="Proprietary"
RUN groupadd --system --gid 10001 zipbob \
 && useradd --system --uid 10001 --gid zipbob --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin zipbob
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root config/ /app/config/
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ZIPBOB_PROFILE=prod \
    ZIPBOB_CONFIG_DIR=/app/config \
    ZIPBOB_SERVICE=${SERVICE} \
    ZIPBOB_HTTP_PORT=${PORT}
WORKDIR /app
USER 10001:10001
EXPOSE ${PORT}
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz/live' % (os.environ.get('PORT') or os.environ['ZIPBOB_HTTP_PORT']), timeout=2)"]
# `python -m zipbob_<service>`; other entry points (migrations, the dispatcher) override it.
ENTRYPOINT ["python", "-m", "zipbob_platform.entrypoint"]
