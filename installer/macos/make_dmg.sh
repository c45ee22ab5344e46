#!/bin/sh
# Builds dist/BrainLens-<version>.dmg on macOS. UNTESTED: written on Linux, never run here.
# Needs: the project's venv with the installer extra (on macOS pyproject installs `onnxruntime`,
# which brings the Core ML provider, instead of onnxruntime-gpu) and the default model.
# The .app is not signed or notarised: on first start, right-click BrainLens.app > Open.
set -eu
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
"$PY" -m installer.build                      # dist/BrainLens.app (PyInstaller BUNDLE) + licences
VERSION=$("$PY" -c "import tomllib; print(tomllib.load(open('pyproject.toml','rb'))['project']['version'])")
dist/BrainLens.app/Contents/MacOS/brainlens --self-test
STAGE=build/dmg-stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -R dist/BrainLens.app "$STAGE/"
ln -s /Applications "$STAGE/Applications"
cp dist/brainlens/THIRD_PARTY_LICENSES.txt "$STAGE/"
rm -f "dist/BrainLens-$VERSION.dmg"
hdiutil create -volname "BrainLens $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "dist/BrainLens-$VERSION.dmg"
echo "dist/BrainLens-$VERSION.dmg"
