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

.PHONY: setup test demo lint clean-venv

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

test: $(STAMP)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-61} $(PY) -m pytest -q test

demo: $(STAMP)
	ROS_DOMAIN_ID=$${ROS_DOMAIN_ID:-62} $(PY) -m rail_seg_ros.cli demo

lint: $(STAMP)
	$(VENV)/bin/ruff check rail_seg_ros test launch benchmarks

clean-venv:
	rm -rf $(VENV)
