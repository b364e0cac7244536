#!/usr/bin/env bash
# Java client for theano-serving's ClassificationService (docs/JAVA.md).
#
#   client/java/classify.sh --server HOST:PORT [--model NAME] [--top_k K] [--tls_ca FILE]
#                           [--timeout_s S] IMAGE...
#
# Prints one line "label score" per class, best first (score with 6 decimals; the label is
# everything before the last space). With more than one image, each image's path is printed on a
# line of its own and its class lines are indented by two spaces. gRPC errors go to stderr as
# "error: Classify: CODE: message", exit 1; usage errors exit 2.
#
# On first use (and whenever the proto, the Java source or this script is newer than the build) it
# generates the Java API with protoc + grpc_java_plugin and compiles it with javac into
# client/java/build/, offline, against Debian's jars in /usr/share/java (client/java/install_deps.sh
# installs them). JAVA_OPTS is passed to the JVM.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$HERE/build
JARS=${THEANO_SERVING_JAVA_JARS:-/usr/share/java}
PROTO_DIR=$ROOT/proto
PROTO=$PROTO_DIR/theano_serving/v1/classification.proto
GRPC_PLUGIN=${GRPC_JAVA_PLUGIN:-/usr/bin/grpc_java_plugin}

# Needed to compile: the generated messages and stubs, and the client.
# (geronimo-annotation provides javax.annotation.Generated, which grpc_java_plugin 1.41 emits and
# JDK 11+ no longer ships; compile time only.)
COMPILE_JARS=(protobuf grpc-api grpc-stub grpc-protobuf guava geronimo-annotation-1.3-spec)
# Needed to run as well: gRPC core, the Netty transport and what they load.
RUNTIME_JARS=(protobuf grpc-api grpc-stub grpc-protobuf grpc-protobuf-lite grpc-core grpc-context
  grpc-netty guava perfmark-api netty-common netty-buffer netty-transport netty-resolver
  netty-codec netty-codec-http netty-codec-http2 netty-handler)
# TLS (--tls_ca): Debian's Netty has no ALPN in its JDK SSL provider, so TLS runs on OpenSSL through
# netty-tcnative. Netty loads the JNI library only under the name libnetty_tcnative.so and the
# library checks its own file name, so the build keeps a copy under that name (a symlink fails).
# Optional: without it plaintext still works and --tls_ca fails with "JDK provider does not support
# ALPN protocol".
TCNATIVE_JAR=$JARS/netty-tcnative.jar
TCNATIVE_SO=${THEANO_SERVING_TCNATIVE_SO:-/usr/lib/x86_64-linux-gnu/jni/libnetty-tcnative.so}

classpath() {
  local cp="" j
  for j in "$@"; do
    if [ ! -f "$JARS/$j.jar" ]; then
      echo "classify.sh: $JARS/$j.jar is missing; run client/java/install_deps.sh" >&2
      exit 1
    fi
    cp+="${cp:+:}$JARS/$j.jar"
  done
  printf '%s' "$cp"
}

stale() {
  [ ! -f "$BUILD/classes/.built" ] ||
    [ -n "$(find "$PROTO" "$HERE/src" "${BASH_SOURCE[0]}" -newer "$BUILD/classes/.built" \
      -print -quit)" ]
}

build() {
  local tmp
  for tool in protoc javac "$GRPC_PLUGIN"; do
    if ! command -v "$tool" > /dev/null; then
      echo "classify.sh: $tool not found; run client/java/install_deps.sh" >&2
      exit 1
    fi
  done
  echo "classify.sh: building the Java client in $BUILD" >&2
  tmp=$(mktemp -d "$BUILD/tmp.XXXXXX")
  mkdir -p "$tmp/gen" "$tmp/classes"
  protoc -I"$PROTO_DIR" --java_out="$tmp/gen" \
    --plugin=protoc-gen-grpc-java="$GRPC_PLUGIN" --grpc-java_out="$tmp/gen" "$PROTO"
  find "$tmp/gen" "$HERE/src" -name '*.java' > "$tmp/sources.txt"
  javac -nowarn -encoding UTF-8 -d "$tmp/classes" -cp "$(classpath "${COMPILE_JARS[@]}")" \
    @"$tmp/sources.txt"
  mkdir -p "$tmp/native"
  if [ -f "$TCNATIVE_SO" ]; then cp "$TCNATIVE_SO" "$tmp/native/libnetty_tcnative.so"; fi
  touch "$tmp/classes/.built"
  rm -rf "$BUILD/gen" "$BUILD/classes" "$BUILD/native"
  mv "$tmp/gen" "$BUILD/gen"
  mv "$tmp/native" "$BUILD/native"
  mv "$tmp/classes" "$BUILD/classes"
  rm -rf "$tmp"
}

mkdir -p "$BUILD"
if stale; then
  # One build at a time when several classify.sh start together.
  exec 9> "$BUILD/.lock"
  flock 9
  if stale; then build; fi
  flock -u 9
  exec 9>&-
fi

# shellcheck disable=SC2086  # JAVA_OPTS is a list of JVM options
exec java -XX:TieredStopAtLevel=1 -Djava.library.path="$BUILD/native" ${JAVA_OPTS:-} \
  -cp "$BUILD/classes:$(classpath "${RUNTIME_JARS[@]}"):$TCNATIVE_JAR" \
  io.theanoserving.ClassifyClient "$@"
