# The okrflow image: the CLI, the Prefect worker that runs the evaluate flow, the exporter, and (from the
# same pinned dependencies) the MLflow tracking server of docker-compose.yml.
#   docker build -t okrflow .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    GX_ANALYTICS_ENABLED=false \
    MLFLOW_DISABLE_TELEMETRY=true

WORKDIR /app

# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY okr_model ./okr_model
COPY connectors ./connectors
COPY flows ./flows
COPY okrflow ./okrflow
COPY config ./config
RUN pip install --no-deps . \
    && useradd --create-home --uid 10001 okrflow \
    && install -d -o okrflow -g okrflow /data

USER okrflow
EXPOSE 9465
CMD ["okrflow", "--help"]
