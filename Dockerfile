# One image for every CDP Python service. The service is selected by the
# command, e.g. `python -m services.profile` (see docker-compose.yml).

ARG PYTHON_IMAGE=python:3.11-slim

# --- build stage: resolve/compile dependencies into an isolated venv --------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

# Toolchain only lives in this stage (needed if a dependency lacks a wheel).
RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential \
 && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

COPY requirements.txt /tmp/requirements.txt
RUN pip install --upgrade pip \
 && pip install -r /tmp/requirements.txt

# --- runtime stage ----------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH="/opt/venv/bin:${PATH}"

RUN groupadd --system --gid 10001 cdp \
 && useradd --system --uid 10001 --gid cdp --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin cdp

COPY --from=build /opt/venv /opt/venv

WORKDIR /app
# Code stays root-owned (read-only for the service user).
COPY . /app

USER cdp:cdp

# HTTP (GraphQL + /healthz) and gRPC ports of identity/profile/segment/messaging/journey/analytics.
EXPOSE 4001 4002 4003 4004 4005 4006 50051 50052 50053 50054 50055 50056

# Generic healthcheck for `docker run` (set CDP_HTTP_PORT for non-identity
# services); docker-compose.yml defines its own per service.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://localhost:%s/healthz' % os.environ.get('CDP_HTTP_PORT', '4001'), timeout=4)"]

CMD ["python", "-m", "services.identity"]
