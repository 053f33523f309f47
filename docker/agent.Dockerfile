# A device agent measuring on the host it runs on (host-latency; host-instructions with
# valgrind). The agent needs no TensorFlow and no server code: numpy, LiteRT, httpx,
# flatbuffers, and the device_agent/ and latency_tables/ packages.
#   docker build -f docker/agent.Dockerfile -t netadapt-agent .
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends valgrind \
    && rm -rf /var/lib/apt/lists/*
RUN pip install "numpy>=1.26,<3" "ai-edge-litert>=2.1,<3" "httpx>=0.27,<1" "flatbuffers>=24"

RUN useradd --create-home --uid 10001 agent \
    && mkdir -p /cache && chown agent /cache
WORKDIR /opt/netadapt
COPY latency_tables ./latency_tables
COPY device_agent ./device_agent
ENV PYTHONPATH=/opt/netadapt
USER agent
VOLUME ["/cache"]

# NETADAPT_AGENT_TOKEN must be set; the server URL and backend come as arguments.
ENTRYPOINT ["python", "-m", "device_agent"]
CMD ["--server", "http://server:8000", "--backend", "host-latency", "--cache-dir", "/cache"]
