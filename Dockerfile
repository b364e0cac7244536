# theano-serving container image: the gRPC server, its CLI and the embedded fashion_lenet model.
#
#   scripts/build_image.sh                     # podman on a host without Docker (docs/DEPLOY.md)
#   docker build -t theano-serving .           # or any Docker-compatible builder
#   docker run -p 8500:8500 -p 8502:8502 theano-serving
#   docker run -v /srv/models:/models:ro theano-serving --insecure --model_repository=/models
#
# Stage 1 installs the -dev packages and runs the README's build (scripts/build.sh, tests and
# benchmarks off).
# Stage 2 is debian:bookworm plus the shared libraries the binaries load that the base lacks: the
# ldd closure (~180 libraries, 180 MB) is copied instead of apt-installing the runtime packages,
# because libopencv-imgcodecs406 drags in GDAL (proj + proj-data, poppler, HDF5, ...), GDCM, ...
# (+410 MB measured; docs/DEPLOY.md). Rebuild the image for security updates of those libraries.

FROM debian:bookworm AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# The shared libraries of the base image: the runtime stage already has these, the rest is copied.
RUN find / -xdev \( -name '*.so' -o -name '*.so.*' \) -printf '%f\n' | sort -u > /base-libs.txt
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      cmake g++ ninja-build pkg-config \
      libabsl-dev nlohmann-json3-dev libzip-dev zlib1g-dev \
      libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev \
      libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc prometheus-cpp-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Release: the README's build without debug info, which the image strips anyway (faster to compile).
RUN BUILD_TYPE=Release scripts/build.sh -DTHEANO_SERVING_BUILD_TESTS=OFF \
    -DTHEANO_SERVING_BUILD_BENCHMARKS=OFF
# /staging = the runtime stage's /opt/theano-serving: stripped binaries, the libraries the base
# image lacks (with their Debian copyright files) and the embedded model repository.
RUN mkdir -p /staging/bin /staging/lib /staging/share/doc /staging/share/theano-serving \
 && cp build/bin/theano-serving build/bin/theano-serving-cli build/bin/theano-serving-model /staging/bin/ \
 && strip --strip-unneeded /staging/bin/* \
 && ldd /staging/bin/* | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | sort -u > /closure.txt \
 && while read -r lib; do \
      name=$(basename "$lib"); \
      if grep -qxF "$name" /base-libs.txt; then continue; fi; \
      cp -L "$lib" "/staging/lib/$name"; \
      pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -n 1 | cut -d: -f1); \
      if [ -n "$pkg" ] && [ -f "/usr/share/doc/$pkg/copyright" ]; then \
        mkdir -p "/staging/share/doc/$pkg" && cp "/usr/share/doc/$pkg/copyright" "/staging/share/doc/$pkg/"; \
      fi; \
    done < /closure.txt \
 && cp -r models /staging/share/theano-serving/models

FROM debian:bookworm
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
LABEL org.opencontainers.image.title="theano-serving" \
      org.opencontainers.image.description="gRPC serving of Theano-trained CNN classifiers with Theano's exact outputs"
COPY --from=builder /staging /opt/theano-serving
RUN echo /opt/theano-serving/lib > /etc/ld.so.conf.d/theano-serving.conf \
 && ldconfig \
 && groupadd --system --gid 10001 theano \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin theano \
 && mkdir /models \
 && if ldd /opt/theano-serving/bin/* | grep 'not found'; then exit 1; fi
ENV PATH=/opt/theano-serving/bin:$PATH
# Numeric so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
# 8500 gRPC (classification API, Open Inference Protocol v2, health, reflection); 8502 /metrics.
EXPOSE 8500 8502
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
  CMD ["/opt/theano-serving/bin/theano-serving-cli", "health", "--server", "127.0.0.1:8500", "--timeout_ms", "3000"]
# The server is PID 1: it handles SIGTERM itself (health NOT_SERVING, drain up to --drain_timeout_s,
# exit 0). Give the runtime a stop timeout above the drain timeout (docker stop -t 30).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/theano-serving/bin/theano-serving"]
# Plaintext by default; for TLS run with --tls_cert=/certs/tls.crt --tls_key=/certs/tls.key instead.
# The embedded repository (/opt/theano-serving/share/theano-serving/models) is the default;
# --model_repository=/models serves a mounted one.
CMD ["--insecure"]
