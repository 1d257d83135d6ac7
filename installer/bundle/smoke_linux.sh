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
import sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("L")
import statistics
px = list(im.getdata())[::97]
assert im.size[0] > 900 and statistics.pstdev(px) > 20, "screenshot looks blank"
print("GUI screenshot:", im.size, "ok")
PY
cp "$home/shot.png" bundle-smoke.png
echo "smoke test passed (screenshot: bundle-smoke.png)"
