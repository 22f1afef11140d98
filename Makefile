# Set-up and the main jobs. Every target creates or reuses the virtual environment in $(VENV).
# Where a system ROS 2 is sourced (ROS_DISTRO set, rclpy importable), the venv sees its packages
# and the ROS wheels from the package index are not installed.
VENV ?= .venv
PY := $(VENV)/bin/python
HOST_PYTHON ?= python3
STAMP := $(VENV)/.installed
# DDS stays on this machine, in a domain of its own.
export ROS_AUTOMATIC_DISCOVERY_RANGE := LOCALHOST
export ROS_LOCALHOST_ONLY := 1

# `make test` also runs the ROS-free core under Python 3.8 (the Jetson's JetPack 5) and the node under ROS 2
# Jazzy (Python 3.12), each in a venv of its own, reused until its requirements file changes. The
# interpreters are pyenv's newest 3.8.x / 3.12.x, else python3.8 / python3.12 on PATH; set PYTHON38 /
# PYTHON312 to choose others. `make test-core` runs the main suite alone.
PYENV_ROOT ?= $(HOME)/.pyenv
find_python = $(or $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)))),$(shell command -v python$(1) 2>/dev/null))
PYTHON38 ?= $(call find_python,3.8)
PYTHON312 ?= $(call find_python,3.12)
VENV38 ?= .venv38
VENVJAZZY ?= .venvjazzy
STAMP38 := $(VENV38)/.installed
STAMPJAZZY := $(VENVJAZZY)/.installed
# What runs under 3.8: the tests of the ROS-free core (torch-only tests inside them skip: no torch for 3.8
# here). Not these: test_checkpoints, test_nets, train/ (torch), bag/, bench/, commands/test_make_bag
# (rosbags needs 3.10+), test_node (no ROS 2 wheels for 3.8), test_benchmarks (torch).
CORE38_TESTS := test/test_without_torch.py test/test_image_codec.py test/test_model_card.py \
  test/test_pipeline.py test/test_metrics.py test/test_report.py test/test_contract.py test/test_datasets.py \
  test/synth/test_config.py test/synth/test_render.py test/synth/test_output.py test/test_cli.py \
  test/commands/test_predict.py test/commands/test_models.py test/test_launch.py test/test_python38.py \
  test/track test/commands/test_track_ahead.py test/test_head_compiled.py
# What runs under Jazzy: the node (on the shipped rail_default export through ONNX Runtime: no torch there)
JAZZY_TESTS := test/test_node.py

.PHONY: setup test test-core test-py38 test-jazzy demo lint clean-venv

setup: $(STAMP)

$(STAMP): requirements.txt requirements-ros.txt setup.py
	@if [ -n "$$ROS_DISTRO" ] && $(HOST_PYTHON) -c "import rclpy" 2>/dev/null; then \
	  echo "using the system ROS 2 $$ROS_DISTRO"; \
	  $(HOST_PYTHON) -m venv --system-site-packages $(VENV); \
	  $(PY) -m pip install -q -r requirements.txt; \
	else \
	  $(HOST_PYTHON) -m venv $(VENV); \
	  $(PY) -m pip install -q -r requirements.txt -r requirements-ros.txt; \
	fi
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

test: test-core test-py38 test-jazzy

test-core: $(STAMP)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-61} $(PY) -m pytest -q test

test-py38: $(STAMP38)
	$(VENV38)/bin/python -m pytest -q -p no:cacheprovider $(CORE38_TESTS)

test-jazzy: $(STAMPJAZZY)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-63} $(VENVJAZZY)/bin/python -m pytest -q -p no:cacheprovider $(JAZZY_TESTS)

# pip runs from inside the venv: Python 3.8's pip would read this repo's setup.cfg as its install scheme
$(STAMP38): requirements-py38.txt setup.py
	@test -n "$(PYTHON38)" || { echo "make test: no Python 3.8 found (pyenv install 3.8, or PYTHON38=/path/to/python3.8; make test-core runs the main suite alone)"; exit 1; }
	test -x $(VENV38)/bin/python || $(PYTHON38) -m venv $(VENV38)
	cd $(VENV38) && bin/python -m pip install -q -r $(CURDIR)/requirements-py38.txt
	cd $(VENV38) && bin/python -m pip install -q --no-build-isolation -e $(CURDIR)
	@touch $@

$(STAMPJAZZY): requirements-jazzy.txt setup.py
	@test -n "$(PYTHON312)" || { echo "make test: no Python 3.12 found for the ROS 2 Jazzy run (pyenv install 3.12, or PYTHON312=/path/to/python3.12; make test-core runs the main suite alone)"; exit 1; }
	test -x $(VENVJAZZY)/bin/python || $(PYTHON312) -m venv $(VENVJAZZY)
	$(VENVJAZZY)/bin/python -m pip install -q -r requirements-jazzy.txt
	$(VENVJAZZY)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

demo: $(STAMP)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-62} $(PY) -m rail_seg_ros.cli demo

lint: $(STAMP)
	$(VENV)/bin/ruff check rail_seg_ros test launch benchmarks

clean-venv:
	rm -rf $(VENV) $(VENV38) $(VENVJAZZY)
