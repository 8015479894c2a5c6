#!/usr/bin/env bash
# Installs Loom's pinned build and test dependencies: Debian 12 packages, and a Python venv
# (scripts/venv.sh) with the PyPI ones. Safe to run again.
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
  libxxhash-dev=0.8.1-1
  libclang-rt-22-dev=1:22.1.8-1~deb12u1
  libcpp-httplib-dev=0.11.4+ds-1+deb12u1
  libssl-dev=3.0.19-1~deb12u2
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

# PyPI: Halide 21 (libHalide.so with its LLVM inside, Halide.h, its CMake package), the CMake
# that package needs (>= 3.28; Debian 12 has 3.25), and iced-x86 + pyelftools for the ISA audit
# (tools/loom-isa-audit). docs/TOOLCHAIN.md says why each.
# The Python package (pyproject.toml, docs/PYTHON.md) builds with scikit-build-core and nanobind
# and runs on numpy; its tests use pytest and Pillow; loom-serve's tests use the official openai
# client. Their own dependencies are pinned too, since pip runs with --no-deps.
PYPI_PACKAGES=(
  halide==21.0.0
  cmake==3.31.10
  iced-x86==1.21.0
  pyelftools==0.33
  nanobind==3.1.0
  scikit-build-core==1.1.2
  packaging==26.4
  pathspec==1.1.1
  numpy==2.4.6
  pillow==12.3.0
  pytest==9.0.3
  iniconfig==2.3.1
  pluggy==1.7.0
  pygments==2.21.0
  openai==3.51.0
  httpx2==2.17.0
  httpcore2==2.17.0
  h11==0.16.0
  anyio==4.16.0
  sniffio==1.3.1
  idna==3.21
  jiter==0.19.0
  pydantic==2.14.4
  pydantic-core==2.50.5
  annotated-types==0.8.0
  typing-inspection==0.4.5
  typing-extensions==4.16.0
  truststore==0.10.5
)
source "$(dirname "$0")/venv.sh"
if [[ ! -x $LOOM_VENV/bin/python ]]; then
  python3 -m venv "$LOOM_VENV"
fi
installed_py=$("$LOOM_VENV/bin/python" -m pip freeze 2>/dev/null | tr 'A-Z_' 'a-z-')
missing_py=()
for spec in "${PYPI_PACKAGES[@]}"; do
  grep -qxF "$spec" <<<"$installed_py" || missing_py+=("$spec")
done
if ((${#missing_py[@]})); then
  echo "loom setup: installing ${#missing_py[@]} PyPI package(s) into $LOOM_VENV"
  # --no-deps: the halide wheel pulls numpy, imageio and pillow for its Python bindings, unused here.
  "$LOOM_VENV/bin/python" -m pip install -q --no-deps --disable-pip-version-check "${missing_py[@]}"
else
  echo "loom setup: all ${#PYPI_PACKAGES[@]} PyPI packages present in $LOOM_VENV"
fi
