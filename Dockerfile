# The local realtime server with the embedded offline models (VAD, whisper tiny.en, SmolLM2 on
# llama.cpp, piper). The models ship inside PyPI packages: nothing is downloaded at run time.
#
#   docker build -t realtime-agents .
#   docker run --rm -p 8765:8765 -e REALTIME_AGENTS_API_KEY=change-me realtime-agents
#
# Beyond loopback the server requires an API key: clients send it as a bearer token.

FROM python:3.11-slim-bookworm AS build
# The Debian release of the base image fixes the package versions.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential cmake \
    && rm -rf /var/lib/apt/lists/*
# llama-cpp-python compiles from source; a native build enables AMX and crashes on some CPUs,
# so the image is built for any x86-64 CPU with AVX2 (the Makefile's flags).
ENV CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON" \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
COPY examples ./examples
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install '.[local,piper,fast]'

FROM python:3.11-slim-bookworm
# llama.cpp's OpenMP runtime.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 realtime
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    PYTHONUNBUFFERED=1
USER 10001
WORKDIR /home/realtime
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8765/health', timeout=4).status != 200)"]
ENTRYPOINT ["realtime-agents"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8765"]
