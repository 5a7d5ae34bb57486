# syntax=docker/dockerfile:1
# The `segmenter` command in a small image: the streaming worker by default (`docker run IMAGE`), any other
# command by name (`docker run IMAGE fit leads.csv --model-out model.json`). Settings: SEGMENTER_* variables.
# Every dependency ships manylinux wheels for CPython 3.11, so no compiler is needed.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY segmentation/ segmentation/
COPY models/ models/
COPY streams/ streams/
COPY segmenter/ segmenter/
# Only the project's wheel is built here; its dependencies are installed from PyPI wheels below.
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The project and its runtime dependencies only: not the `dev` (pytest, ruff, mypy) or `local`
# (embedded broker and Redis) extras. The pip cache stays in a build cache, out of the image.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=cache,target=/root/.cache/pip \
    pip install /wheels/*.whl
RUN groupadd --gid 10001 segmenter && useradd --uid 10001 --gid 10001 --create-home segmenter
USER 10001:10001
WORKDIR /home/segmenter
# The worker's HTTP port: /metrics, /healthz, /readyz and the dashboard. In a container loopback reaches
# nothing from outside, so it binds every interface here; SEGMENTER_WEB_TOKEN guards all but the probes.
ENV SEGMENTER_WEB_HOST=0.0.0.0
EXPOSE 6066
ENTRYPOINT ["segmenter"]
CMD ["worker"]
