#!/usr/bin/env bash
# Installs the Debian 12 packages theano-serving needs (as root, or via sudo), by purpose:
#
#   scripts/install_deps.sh [GROUP...]      no GROUP = every group (what test.sh and CI use)
#
#   build      build and run the server, the CLI, the model tool and the importer (scripts/run.sh)
#   test       the ctest suite: GoogleTest, the Fashion-MNIST test set, a real Prometheus, curl,
#              openssl, and the Java client's JDK and jars (client/java/install_deps.sh)
#   container  the container tests (tests/deploy, label container): podman and friends, validators
#   bench      the benchmarks (bench/, scripts/bench_peers.sh): Google Benchmark and the peer engines
#   sanitize   sanitizers and fuzzing (scripts/fuzz.sh, scripts/tsan.sh): clang 14, dpkg-dev
#
# Skips apt entirely when everything asked for is already installed.
set -euo pipefail

# build: toolchain; core (Abseil, JSON, npz through libzip + zlib, image decode through OpenCV
# core/imgproc/imgcodecs); server and client (gRPC, Protobuf, prometheus-cpp); the importer
# (Debian's Python 3 with numpy, h5py for Keras files, lib2to3 for Python 2 Lasagne code).
BUILD=(
  cmake g++ ninja-build pkg-config
  libabsl-dev nlohmann-json3-dev libzip-dev zlib1g-dev
  libopencv-core-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc prometheus-cpp-dev
  python3 python3-numpy python3-h5py python3-lib2to3
)
# test: GoogleTest/GoogleMock; the Fashion-MNIST test set (accuracy test); a real Prometheus
# scraping the server, curl, openssl (TLS certificates) for the integration tests.
TEST=(
  libgtest-dev libgmock-dev dataset-fashion-mnist
  prometheus curl openssl
)
# container: image build/run with podman, a debootstrapped base, offline validators.
CONTAINER=(podman buildah runc debootstrap nodejs shellcheck)
# bench: Google Benchmark and issue 3's peer engines.
BENCH=(libbenchmark-dev libdnnl-dev libopencv-dnn-dev libopenblas-dev)
# sanitize: clang 14 with libFuzzer and its sanitizer runtimes (scripts/fuzz.sh); dpkg-dev for
# `apt-get source abseil` (scripts/build_absl_tsan.sh, the ThreadSanitizer step).
SANITIZE=(clang-14 libclang-rt-14-dev dpkg-dev)

groups=("$@")
if [ ${#groups[@]} -eq 0 ]; then groups=(build test container bench sanitize); fi
packages=()
java=0
for group in "${groups[@]}"; do
  case "$group" in
    build) packages+=("${BUILD[@]}") ;;
    test)
      packages+=("${TEST[@]}")
      java=1
      ;;
    container) packages+=("${CONTAINER[@]}") ;;
    bench) packages+=("${BENCH[@]}") ;;
    sanitize) packages+=("${SANITIZE[@]}") ;;
    *)
      echo "install_deps.sh: unknown group \"$group\" (build, test, container, bench, sanitize)" >&2
      exit 2
      ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The Java client (client/java/) and its ctest: JDK, protoc's Java plugin, Debian's grpc-java jars.
if [ "$java" = 1 ]; then "$(dirname "$0")/../client/java/install_deps.sh"; fi
