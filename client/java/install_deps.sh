#!/usr/bin/env bash
# Installs the Debian 12 packages the Java client (client/java/classify.sh) needs to build and run
# offline: protoc, the gRPC Java plugin, a JDK and the gRPC/protobuf/Netty jars in /usr/share/java.
# Idempotent: skips apt entirely when everything is already installed. As root, or via sudo.
set -euo pipefail

PACKAGES=(
  default-jdk-headless                # javac, java
  protobuf-compiler                   # protoc (--java_out)
  protobuf-compiler-grpc-java-plugin  # /usr/bin/grpc_java_plugin (--grpc-java_out)
  libprotobuf-java                    # protobuf.jar
  libgrpc-java                        # grpc-{api,core,context,stub,protobuf,protobuf-lite,netty}.jar
  libguava-java                       # guava.jar (ListenableFuture; includes failureaccess)
  libnetty-java                       # netty-*.jar: the transport grpc-netty runs on
  libperfmark-java                    # perfmark-api.jar, used by grpc-core and grpc-netty
  libgeronimo-annotation-1.3-spec-java  # javax.annotation.Generated for the generated stubs
  libnetty-tcnative-java libnetty-tcnative-jni  # OpenSSL for --tls_ca (Debian's JDK provider lacks ALPN)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "installing: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
