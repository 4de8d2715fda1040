#!/usr/bin/env bash
# Installs mmseg-affnet and its pinned OpenMMLab stack into a virtual environment
# (default .venv in the repository; set VENV=/path to choose another).
#   torch:  kept if the environment already has one (bring your CUDA build),
#           otherwise torch==2.13.0 (the CPU wheel on this project's machines).
#   mmcv:   full mmcv 2.1.0 with compiled ops. Taken from a prebuilt wheel folder
#           (MMCV_WHEEL_DIR, default ../shared/wheels) when it holds one, otherwise
#           built from source, which takes ~25 minutes on 2 cores.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${VENV:-$root/.venv}"
wheels="${MMCV_WHEEL_DIR:-$root/../shared/wheels}"
python_bin="${PYTHON:-python3}"

[ -x "$venv/bin/python" ] || "$python_bin" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip

if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "[install] torch==2.13.0"
  "${pip[@]}" install -q torch==2.13.0
fi

if "$venv/bin/python" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
  echo "[install] mmcv 2.1.0 with ops already present"
elif compgen -G "$wheels/mmcv-2.1.0-*.whl" >/dev/null; then
  echo "[install] mmcv 2.1.0 from prebuilt wheel in $wheels"
  "${pip[@]}" install -q --only-binary mmcv --find-links "$wheels" mmcv==2.1.0
else
  echo "[install] no prebuilt mmcv wheel in $wheels: building mmcv 2.1.0 with ops from source."
  echo "[install] This takes about 25 minutes on 2 cores (set MMCV_WHEEL_DIR to skip it)."
  "${pip[@]}" install -q "setuptools<70" wheel ninja psutil
  MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
    "${pip[@]}" install --no-build-isolation mmcv==2.1.0
fi

echo "[install] mmseg-affnet and pinned dependencies"
"${pip[@]}" install -q -e "$root[tests]"
"$venv/bin/python" -c 'import mmseg, mmcv.ops, mmpretrain, mmseg_affnet; print("[install] ok: mmseg", mmseg.__version__, "| mmcv", mmcv.__version__)'
