# movcheck: every target sets up what it needs on a fresh Debian 12 machine (as root).
VENV   ?= .venv
PY     := $(VENV)/bin/python
APT    := python3-venv python3-bpfcc
LABAPT := qemu-system-x86 busybox-static cpio ovmf
# What the fleet tests run for real: node_exporter, promtool, systemd-analyze, man, bash completion.
TESTAPT := prometheus prometheus-node-exporter systemd man-db groff-base bash-completion
PYTEST ?=
# The fast tests open each recording (.tar.gz) hundreds of times, and every opening unpacks it
# (~1,200 files) into a private temporary folder: on a tmpfs that takes a tenth of the time it
# takes on a disk (ext4 with discard here: ~0.6 s an opening, most of the fast tests' time).
TESTTMP := $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm || echo /tmp)
# Where `make install` puts the command, man pages, completion, rules and units: man, bash-completion
# and systemd (/usr/local/lib/systemd/system) all look under /usr/local without configuration.
PREFIX ?= /usr/local

.PHONY: install install-data venv lab-deps test-deps run test test-fast lab soak recordings bench lint clean

install: $(VENV)/.installed install-data

# The venv alone (no /usr/local), for the targets below that only run it.
venv: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	@dpkg -s $(APT) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT); }
	@test -x $(PY) || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

install-data: $(VENV)/.installed
	install -d $(PREFIX)/bin $(PREFIX)/share/man/man8 $(PREFIX)/share/bash-completion/completions \
	  $(PREFIX)/share/movcheck/prometheus $(PREFIX)/lib/systemd/system $(PREFIX)/share/doc/movcheck/examples
	ln -sf $(abspath $(VENV))/bin/movcheck $(PREFIX)/bin/movcheck
	install -m 644 man/man8/*.8 $(PREFIX)/share/man/man8/
	install -m 644 contrib/bash-completion/movcheck $(PREFIX)/share/bash-completion/completions/
	install -m 644 contrib/prometheus/movcheck.rules.yml $(PREFIX)/share/movcheck/prometheus/
	install -m 644 contrib/systemd/* $(PREFIX)/lib/systemd/system/
	install -m 644 doc/examples/*_example.txt $(PREFIX)/share/doc/movcheck/examples/

lab-deps:
	@dpkg -s $(LABAPT) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(LABAPT); }

test-deps:
	@dpkg -s $(TESTAPT) >/dev/null 2>&1 || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(TESTAPT); }

run: venv
	$(VENV)/bin/movcheck show
	-$(VENV)/bin/movcheck check
	$(VENV)/bin/movcheck audit

# The fast tests on both cores (pytest-xdist), then the real-kernel boots, which pace themselves;
# CI runs this, so `make install` runs there too.
test: install lab-deps test-deps
	TMPDIR=$(TESTTMP) $(PY) -m pytest -m "not slow" -n 2 --durations=10 $(PYTEST)
	$(PY) -m pytest -m slow --durations=0 $(PYTEST)

test-fast: venv test-deps
	TMPDIR=$(TESTTMP) $(PY) -m pytest -m "not slow" -n 2 --durations=10 $(PYTEST)

lab: venv lab-deps
	MOVCHECK_LAB=full $(PY) -m pytest -m slow $(PYTEST)

# The watch soak at full length (CI runs it for 2 minutes): 20 minutes, 5,000 operations at least.
soak: venv lab-deps
	MOVCHECK_SOAK_SECONDS=1200 MOVCHECK_SOAK_OPS=5000 $(PY) -m pytest -m slow -s tests/watchlab/test_soak_lab.py $(PYTEST)

recordings: venv lab-deps
	$(PY) -m tests.lab.run recordings

bench: venv
	@dpkg -s time >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq --no-install-recommends time; }
	$(PY) -m tests.bench.run

lint: venv
	$(PY) -m compileall -q observer probes tests
	$(PY) -m pyflakes observer probes tests
	$(PY) -m mypy observer probes
	$(PY) -m pytest -q -p no:cacheprovider tests/test_layers.py

clean:
	rm -rf $(VENV) build *.egg-info
