# Builds dist\BrainLens-<version>-setup.exe on Windows. UNTESTED: written on Linux.
# Needs: the project's venv (python -m venv .venv; .venv\Scripts\pip install -e ".[installer]"),
# the default model (python -m export default, in a venv with the export extras), and Inno Setup 6.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..\..")
$python = ".venv\Scripts\python.exe"
& $python -m installer.build
if ($LASTEXITCODE -ne 0) { throw "bundle build failed" }
& "dist\brainlens\brainlens-cli.exe" --self-test
if ($LASTEXITCODE -ne 0) { throw "the bundled self-test failed" }

$redist = "installer\windows\redist\vc_redist.x64.exe"
if (-not (Test-Path $redist)) {
    New-Item -ItemType Directory -Force -Path (Split-Path $redist) | Out-Null
    # Microsoft's permanent link to the latest Visual C++ 2015-2022 x64 redistributable.
    Invoke-WebRequest -Uri "https://aka.ms/vs/17/release/vc_redist.x64.exe" -OutFile $redist
}
$version = & $python -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])"
$iscc = Join-Path ${env:ProgramFiles(x86)} "Inno Setup 6\ISCC.exe"
& $iscc "/DAppVersion=$version" "installer\windows\brainlens.iss"
if ($LASTEXITCODE -ne 0) { throw "Inno Setup failed" }
Write-Host "dist\BrainLens-$version-setup.exe"
