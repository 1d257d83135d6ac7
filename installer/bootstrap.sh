#!/usr/bin/env bash
# Set up cadfinder on a fresh Debian/Python 3.11 machine and run it.
#   bash installer/bootstrap.sh run  [ARGS]   install, open the app (cadfinder gui --demo ARGS: the demo library
#                                             fills in the background the first time); with no display: prepare
#                                             the demo library, a headless search and a screenshot under Xvfb
#   bash installer/bootstrap.sh test [ARGS]   install, then run the whole test suite (pytest ARGS, under Xvfb)
#   bash installer/bootstrap.sh setup         install only
# Idempotent: the virtual environment is rebuilt only when pyproject.toml or this script change.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-run}"; shift || true

VENV="${CADFINDER_VENV:-.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null || PY=python3

need_apt=()
# Debian packages: Xvfb and the X/GL client libraries Qt and VTK need for the GUI and its tests;
# libusb, which open3d's library links against.
APT_PACKAGES="xvfb xauth libxcb-cursor0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
  libxcb-render-util0 libxcb-xinerama0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libegl1 libgl1 libglx-mesa0
  libgl1-mesa-dri libglu1-mesa openssl libusb-1.0-0"
for p in $APT_PACKAGES; do
  dpkg -s "$p" >/dev/null 2>&1 || need_apt+=("$p")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need_apt[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

want="$(cat pyproject.toml installer/bootstrap.sh | sha256sum | cut -c1-16)"
stamp="$VENV/.cadfinder-installed"
if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setting up $VENV (first run takes a few minutes)" >&2
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[test]'
  echo "$want" > "$stamp"
fi
# The re-rank's compiled kernels: built once here (~15 s), loaded from numba's cache afterwards.
"$VENV/bin/python" -c "from cadfinder.geometry import kernels; kernels.warm()"

# No MIT-SHM: spawned workers rendering off-screen with VTK (thumbnails, views) sometimes died
# with "BadAccess (attempt to access private resource denied)" from X shared memory.
XVFB=(xvfb-run -a -s "-screen 0 1600x1000x24 -extension MIT-SHM")
case "$mode" in
  setup) exit 0 ;;
  run)
    if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
      # The app opens at once; the demo library fills in the background (status bar, resumable).
      exec "$VENV/bin/cadfinder" gui --demo "$@"
    fi
    "$VENV/bin/cadfinder" demo
    echo "no display here: a headless search, then the app under Xvfb with a screenshot" >&2
    "$VENV/bin/cadfinder" search --text "flange with 8 bolt holes" "spur gear with a bore" --k 5
    shot="${CADFINDER_SCREENSHOT:-cadfinder-demo.png}"
    exec "${XVFB[@]}" "$VENV/bin/cadfinder" gui --screenshot "$shot" --query-text "flange with 8 bolt holes" "$@" ;;
  test)
    if [ -n "${DISPLAY:-}" ]; then exec "$VENV/bin/python" -m pytest "$@"; fi
    exec "${XVFB[@]}" "$VENV/bin/python" -m pytest "$@" ;;
  *)    echo "usage: bash installer/bootstrap.sh run|test|setup [ARGS]" >&2; exit 2 ;;
esac
