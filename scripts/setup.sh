#!/usr/bin/env bash
# Install optbench and what its jobs need, on a fresh machine.
#   bash scripts/setup.sh        the package (run the main job)
#   bash scripts/setup.sh test   the package, test tools, and headless Chromium for the report's browser test
set -euo pipefail
cd "$(dirname "$0")/.."
# torch 2.13.0 CPU is what this project is developed and measured on; a plain "torch" would pull a
# multi-GB CUDA build on Linux. Remove the pin here to use whatever torch >= 2.6 you already have.
python -m pip install -q "torch==2.13.0"
if [ "${1:-}" = "test" ]; then
  python -m pip install -q -e ".[test,catalogue]"
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = "0" ]; then apt_get="apt-get"; else apt_get="sudo apt-get"; fi
    $apt_get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive $apt_get install -y -qq chromium >/dev/null
  fi
else
  python -m pip install -q -e .
fi
