#!/usr/bin/env bash
# Smoke test of the Linux bundle (after build_linux.sh): it starts, --version works, a headless
# search runs on its own embedded database, and a GUI screenshot under Xvfb shows results.
# Prints the bundle size and start-up times.
set -euo pipefail
cd "$(dirname "$0")/../.."
app="$PWD/dist/cadfinder/cadfinder"
[ -x "$app" ] || { echo "no bundle at $app: run installer/bundle/build_linux.sh" >&2; exit 1; }
home="$(mktemp -d)"; trap 'rm -rf "$home"' EXIT
export CADFINDER_HOME="$home"
echo "bundle size: $(du -sh dist/cadfinder | cut -f1)"
t0=$(date +%s%N); "$app" --version; t1=$(date +%s%N)
echo "start-up (--version): $(( (t1 - t0) / 1000000 )) ms"
"$app" demo --count 24 --json > "$home/demo.json"
echo "demo library: $(grep -o '"added": [0-9]*' "$home/demo.json" | head -1)"
t0=$(date +%s%N)
"$app" search --text "spur gear with a bore" --k 3 --json | tee "$home/search.json"
t1=$(date +%s%N)
echo "headless text search incl. start-up and model load: $(( (t1 - t0) / 1000000 )) ms"
grep -q '"family": "spur_gear"' "$home/search.json"
xvfb-run -a -s "-screen 0 1600x1000x24" "$app" gui --screenshot "$home/shot.png" --query-text "flange"
python3 - "$home/shot.png" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
# a blank window compresses to a few kB; one with results, thumbnails and a 3D view does not
assert w > 900 and h > 500 and len(data) > 60_000, f"screenshot looks blank ({w}x{h}, {len(data)} bytes)"
print(f"GUI screenshot: {w}x{h}, {len(data) // 1024} kB, ok")
PY
cp "$home/shot.png" bundle-smoke.png
echo "smoke test passed (screenshot: bundle-smoke.png)"
