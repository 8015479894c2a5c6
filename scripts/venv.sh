# Sourced by the scripts: where Loom's Python venv (PyPI build and test tools) lives. It is
# outside the checkout so that every clone and build folder shares one (and ccache hits).
LOOM_VENV=${LOOM_VENV:-$HOME/.cache/loom/venv}
export LOOM_VENV
