# The NetAdapt server: REST API, lookup tables, runs (proposals in local worker processes,
# or on a Ray cluster when RAY_ADDRESS is set). Build from the repository root:
#   docker build -f docker/server.Dockerfile -t netadapt-server .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Dependencies first (the slow layer, reused while only the code changes).
COPY pyproject.toml README.md ./
RUN mkdir -p service latency_tables device_agent \
    && touch service/__init__.py latency_tables/__init__.py device_agent/__init__.py \
    && pip install . \
    && pip uninstall -y netadapt-service
COPY service ./service
COPY latency_tables ./latency_tables
COPY device_agent ./device_agent
RUN pip install --no-deps . && rm -rf /src/build

RUN useradd --create-home --uid 10001 netadapt \
    && mkdir -p /data && chown netadapt /data
USER netadapt
WORKDIR /home/netadapt

# Everything else comes from NETADAPT_* variables (see service/settings.py):
# NETADAPT_DATABASE_URL, NETADAPT_AGENT_TOKEN, NETADAPT_API_TOKEN, ...
ENV NETADAPT_DATA_DIR=/data \
    NETADAPT_HOST=0.0.0.0 \
    NETADAPT_PORT=8000
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v1/health', timeout=4)"

CMD ["netadapt", "serve"]
