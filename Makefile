# BrainLens: `make run` sets up and starts the app; `make test` sets up and runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
MODEL := resources/models/brainlens-vgg16.onnx
MODEL_INT8 := resources/models/brainlens-vgg16-int8.onnx
# ONNX Runtime's Linux builds send telemetry; BrainLens never talks to the network (app/core sets it too).
export ORT_DISABLE_TELEMETRY := 1
# System packages the tests use: pdftoppm/pdftotext (reports), Xvfb (real-window screenshots),
# the X/EGL libraries Qt needs, dpkg-deb (installer), Orthanc + its DICOMweb plugin (the PACS tests
# start their own server; the package's service is not used).
SYSTEM_PACKAGES := poppler-utils xvfb xauth libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 \
	libfontconfig1 libdbus-1-3 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 \
	libxcb-xinerama0 libxcb-randr0 libxcb-render-util0 libxcb-image0 desktop-file-utils \
	strace orthanc orthanc-dicomweb

.PHONY: run test venv model model-int8 system-packages installer benchmark fuzz screenshots clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[train,export,dev,installer,cluster]'
	touch $@

venv: $(STAMP)

# The default model is built from third-party weights plus the committed fine-tune (see README, "The model"), never committed.
$(MODEL): resources/finetune/brainlens-finetune.npz | $(STAMP)
	$(PY) -m export default

model: $(MODEL)

$(MODEL_INT8): $(MODEL)
	$(PY) -m export variants $(MODEL) --quantize int8

model-int8: $(MODEL_INT8)

run: venv model
	$(PY) -m app

system-packages:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing system packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else echo "note: missing system packages (tests that need them are skipped):$$missing"; fi; \
	fi

# The installer tests build the .deb (about 2-4 min) and run the installed app from a venv-free shell;
# as root they also install it with apt and remove it again.
test: venv system-packages model model-int8
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	QT_QPA_PLATFORM=offscreen BRAINLENS_TEST_INSTALLER=1 \
	BRAINLENS_TEST_DPKG_INSTALL=$$( [ "$$(id -u)" = 0 ] && echo 1 || echo 0 ) \
	$(PY) -m pytest

installer: venv model
	$(PY) -m installer.build

benchmark: venv model
	$(PY) -m benchmarks.throughput

fuzz: venv
	$(PY) scripts/fuzz.py --minutes 10

screenshots: venv model
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) scripts/screenshots.py
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) scripts/screenshots_volume.py

clean:
	rm -rf $(VENV) build dist *.egg-info $(MODEL) $(MODEL_INT8)
