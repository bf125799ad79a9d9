# syntax=docker/dockerfile:1
# loss-service images. Targets:
#   runtime (default)  CPU, NumPy backend:        docker build -t loss-service .
#   runtime-gpu        adds CuPy for CUDA 12 hosts: docker build --target runtime-gpu -t loss-service:gpu .
# Both run as a non-root numeric user, with the server as PID 1 (exec form) so it gets SIGTERM.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---- build: a virtual environment with the service and its dependencies -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY service ./service
# The `fast` extra: numba's fused kernels (bench/README.md; the NumPy path stays the reference),
# compiled once, here, into a seed that `loss-service serve` copies into NUMBA_CACHE_DIR at start
# (service/kernel_cache.py): workers then load them in under a second instead of compiling them
# for about a minute. numba keys them on the CPU; on a CPU unlike this one they are compiled.
RUN pip install --no-cache-dir "/src[fast]" \
    && NUMBA_CACHE_DIR=/opt/kernel-cache python -P -c \
       "from service.losses import accel; assert accel.active(); accel.warm_up()"
# (-P: import the installed package, not /src, whose path the cached kernels would be keyed on)

# ---- build-gpu: the same plus CuPy and the CUDA 12 runtime, NVRTC and headers as wheels ---------
# CuPy compiles kernels at run time, so it needs NVRTC and the CUDA headers: cupy-cuda12x[ctk]
# brings them from PyPI, so a slim base works and only the host's NVIDIA driver is needed.
FROM build AS build-gpu
# (the kernels compiled again: reinstalling the package may give its files new time stamps,
# which would make numba ignore the seed compiled in `build`)
RUN pip install --no-cache-dir "/src[gpu]" \
    && rm -rf /opt/kernel-cache \
    && NUMBA_CACHE_DIR=/opt/kernel-cache python -P -c \
       "from service.losses import accel; assert accel.active(); accel.warm_up()"

# ---- runtime base: slim image, non-root user, settings by environment --------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LOSS_SERVICE_HOST=0.0.0.0 \
    LOSS_SERVICE_PORT=8000 \
    LOSS_SERVICE_WORKERS=2 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/loss-service-metrics \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    LOSS_SERVICE_KERNEL_CACHE_SEED=/opt/kernel-cache
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
EXPOSE 8000
# no curl in the image: Python itself probes /healthz (which answers once warm-up is done: about
# a second with the kernel seed, a minute or two where numba must compile for another CPU)
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('LOSS_SERVICE_PORT', '8000') + '/healthz', timeout=4)"]
USER 10001:10001
ENTRYPOINT ["loss-service", "serve"]

FROM base AS runtime-gpu
COPY --from=build-gpu /opt/venv /opt/venv
COPY --from=build-gpu /opt/kernel-cache /opt/kernel-cache

FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/kernel-cache /opt/kernel-cache
