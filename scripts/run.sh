#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the embedded default model
# (models/fashion_lenet) on the sample images.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
build/bin/theano-serving-model inspect models/fashion_lenet/1
build/bin/theano-serving-model predict models/fashion_lenet/1 --top_k 3 models/fashion_lenet/samples/*.png
