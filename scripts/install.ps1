# Install runway_bridge with every built-in model into .venv (Windows; macOS and Linux use
# scripts/install.sh), and put `runway-bridge` on your PATH. Not yet verified on Windows: it is
# written against PowerShell's, Python's launcher's and pip's documented behaviour.
#
#   powershell -ExecutionPolicy Bypass -File scripts\install.ps1
#   powershell -ExecutionPolicy Bypass -File scripts\install.ps1 -OnnxRuntime directml
#
# Needs Python 3.10, 3.11 or 3.12 from python.org (MediaPipe 0.10.21, which brings the face, hand,
# pose and segmentation models, has no wheel for 3.13).
param(
    [ValidateSet("cpu", "cuda", "directml", "openvino")]
    [string]$OnnxRuntime = "cpu"
)
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
function Say($text) { Write-Host "==> $text" -ForegroundColor Cyan }
function Check($what) { if ($LASTEXITCODE -ne 0) { throw "$what failed (exit code $LASTEXITCODE)" } }

$venvPython = Join-Path (Get-Location) ".venv\Scripts\python.exe"
if (-not (Test-Path $venvPython)) {
    # The py launcher picks the newest Python it knows; ask it for one MediaPipe has wheels for.
    $made = $false
    if (Get-Command py -ErrorAction SilentlyContinue) {
        foreach ($v in "3.12", "3.11", "3.10") {
            # Windows PowerShell 5.1 turns a native command's redirected stderr into an error
            # under "Stop", so the probe runs under "Continue".
            $ErrorActionPreference = "Continue"
            & py "-$v" -c "pass" 2>$null | Out-Null
            $found = ($LASTEXITCODE -eq 0)
            $ErrorActionPreference = "Stop"
            if ($found) { Say "Creating .venv with Python $v"; & py "-$v" -m venv .venv; Check "venv"; $made = $true; break }
        }
    }
    if (-not $made) {
        if (-not (Get-Command python -ErrorAction SilentlyContinue)) {
            throw "Python 3.10-3.12 is needed: install it from https://www.python.org/downloads/windows/"
        }
        Say "Creating .venv with $(python --version)"
        & python -m venv .venv; Check "venv"
    }
}

Say "Installing runway_bridge[models,$OnnxRuntime] and its models' packages (a few minutes the first time)"
& $venvPython -m pip install --disable-pip-version-check --progress-bar on -e ".[models,$OnnxRuntime]"
Check "pip install"
Say "Installing the packages that bring their models, without their requirements"
& $venvPython -m runway_bridge.nodeps install; Check "runway_bridge.nodeps install"
& $venvPython -m runway_bridge.nodeps check; Check "pip check"

# A one-line runway-bridge.cmd in a folder of its own on the user PATH, so the venv's python.exe
# does not shadow another Python.
$bin = Join-Path $env:LOCALAPPDATA "runway-bridge\bin"
New-Item -ItemType Directory -Force -Path $bin | Out-Null
$exe = Join-Path (Get-Location) ".venv\Scripts\runway-bridge.exe"
Set-Content -Path (Join-Path $bin "runway-bridge.cmd") -Value "@`"$exe`" %*" -Encoding ASCII
$userPath = [Environment]::GetEnvironmentVariable("Path", "User")
if (-not (($userPath -split ";") -contains $bin)) {
    [Environment]::SetEnvironmentVariable("Path", ($userPath.TrimEnd(";") + ";" + $bin).TrimStart(";"), "User")
}
$env:Path = "$env:Path;$bin"
Say "Done. Start the daemon with: runway-bridge serve (in a new terminal; this one works already)"
