#!/usr/bin/env bash
# Installs Loom's pinned build and test dependencies (Debian 12). Safe to run again.
set -euo pipefail

PACKAGES=(
  cmake=3.25.1-1
  ninja-build=1.11.1-2~deb12u1
  ccache=4.8+really4.7.5-1
  clang-22=1:22.1.8-1~deb12u1
  lld-22=1:22.1.8-1~deb12u1
  llvm-22-dev=1:22.1.8-1~deb12u1
  llvm-22-tools=1:22.1.8-1~deb12u1
  libmlir-22-dev=1:22.1.8-1~deb12u1
  mlir-22-tools=1:22.1.8-1~deb12u1
  libhalide14-0-dev=14.0.0-3
  flatbuffers-compiler=2.0.8+dfsg1-2
  libflatbuffers-dev=2.0.8+dfsg1-2
  nlohmann-json3-dev=3.11.2-2
  libcli11-dev=2.1.2+ds-1
  libpng-dev=1.6.39-2+deb12u6
  libsndfile1-dev=1.2.0-1+deb12u1
  libjpeg62-turbo-dev=1:2.1.5-2
  libsoxr-dev=0.1.3-4
  libavformat-dev=7:5.1.9-0+deb12u1
  libavcodec-dev=7:5.1.9-0+deb12u1
  libavutil-dev=7:5.1.9-0+deb12u1
  libswscale-dev=7:5.1.9-0+deb12u1
  pkg-config=1.8.1-1
  libgtest-dev=1.12.1-0.2
  libgmock-dev=1.12.1-0.2
  libbenchmark-dev=1.7.1-1
  libdnnl-dev=2.6.3-1
  libopenblas-dev=0.3.21+ds-4
  gnuplot-nox=5.4.4+dfsg1-2+b2
  valgrind=1:3.19.0-1
)

missing=()
for spec in "${PACKAGES[@]}"; do
  name=${spec%%=*}
  version=${spec#*=}
  installed=$(dpkg-query -W -f='${Version}' "$name" 2>/dev/null || true)
  [[ "$installed" == "$version" ]] || missing+=("$spec")
done

if ((${#missing[@]})); then
  echo "loom setup: installing ${#missing[@]} package(s)"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "loom setup: all ${#PACKAGES[@]} packages present"
fi
