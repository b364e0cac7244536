#!/usr/bin/env bash
# Installs the Debian 12 packages theano-serving needs to build, test and run (as root, or via sudo).
# Skips apt entirely when everything is already installed.
set -euo pipefail

PACKAGES=(
  # toolchain
  cmake g++ ninja-build pkg-config
  # core: Abseil, JSON, npz (libzip + zlib), image decode (OpenCV core/imgproc/imgcodecs)
  libabsl-dev nlohmann-json3-dev libzip-dev zlib1g-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  # server and client: gRPC, Protobuf, prometheus-cpp
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc prometheus-cpp-dev
  # tests: GoogleTest/GoogleMock; the Fashion-MNIST test set for the accuracy test
  libgtest-dev libgmock-dev dataset-fashion-mnist
  # integration tests: a real Prometheus scraping the server, curl, openssl (TLS certificates)
  prometheus curl openssl
  # deployment tests (tests/deploy): podman image build/run, offline validators
  podman buildah runc debootstrap nodejs shellcheck python3
  # benchmarks (bench/, scripts/bench_peers.sh): Google Benchmark and issue 3's peer engines
  libbenchmark-dev libdnnl-dev libopencv-dnn-dev libopenblas-dev
  # reliability (issue 6): clang 14 with libFuzzer and its sanitizer runtimes (scripts/fuzz.sh);
  # dpkg-dev for `apt-get source abseil` (scripts/build_absl_tsan.sh, the ThreadSanitizer step)
  clang-14 libclang-rt-14-dev dpkg-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Java client (client/java/) and its CI test: JDK, protoc's Java plugin, Debian's grpc-java jars.
"$(dirname "$0")/../client/java/install_deps.sh"
