# rowforge build and test entry points. GNU make; needs only Go (and git for lint).
# `make` lists the targets.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
.DELETE_ON_ERROR:

GO ?= go
GOFMT ?= $(shell $(GO) env GOROOT)/bin/gofmt

# Tools built from the Go module proxy on first use. Keep the versions in sync with
# internal/testbin (TestToolVersionsMatchMakefile checks). A binary that exists is not
# rebuilt: after changing a version, run `make clean-tools tools`.
TOOLS := $(CURDIR)/.tools/bin
NATS_SERVER_VERSION := v2.15.2
NATSCLI_VERSION := v0.5.0

BIN := $(CURDIR)/bin

# make run
EXAMPLE ?= examples/quickstart.yaml
N ?= 1000
OUT ?= artifacts
SEED ?= 42

# make test / bench / fuzz
TEST_TIMEOUT ?= 14m
TESTFLAGS ?=
BENCH ?= .
BENCHPKGS ?= ./...
FUZZTIME ?= 30s

# Tests find the binaries here (see internal/testbin); without these variables they build
# them themselves.
export ROWFORGE_TOOLS := $(TOOLS)
export ROWFORGE_BIN := $(BIN)

.PHONY: help
help: ## list the targets
	@echo 'usage: make <target> [VAR=value ...]'
	@echo
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-12s %s\n", $$1, $$2}'
	@echo
	@echo 'variables: EXAMPLE=$(EXAMPLE) N=$(N) OUT=$(OUT) SEED=$(SEED) BENCH=$(BENCH) BENCHPKGS=$(BENCHPKGS) FUZZTIME=$(FUZZTIME) TESTFLAGS=$(TESTFLAGS)'

.PHONY: tools
tools: $(TOOLS)/nats-server $(TOOLS)/nats ## build nats-server and the nats CLI into .tools/bin (once)

$(TOOLS)/nats-server:
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/nats-io/nats-server/v2@$(NATS_SERVER_VERSION)

$(TOOLS)/nats:
	GOBIN=$(TOOLS) CGO_ENABLED=0 $(GO) install github.com/nats-io/natscli/nats@$(NATSCLI_VERSION)

.PHONY: build
build: ## build the commands (cmd/...) into bin/ as static binaries
	@if [ -d cmd ]; then \
		echo 'CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...'; \
		CGO_ENABLED=0 $(GO) build -o bin/ ./cmd/...; \
	else \
		echo 'build: no cmd/ folder yet, nothing to build'; \
	fi

.PHONY: run
run: build ## generate the example dataset locally: EXAMPLE, N, OUT, SEED
	bin/controller run -f $(EXAMPLE) -n $(N) --out $(OUT) --seed $(SEED)

# Fuzz targets run their seed corpora (testdata/fuzz and f.Add) as ordinary tests here.
.PHONY: test
test: tools build ## run all tests, fuzz seed corpora included
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(TESTFLAGS) ./...

# Benchmarks in every package; BENCH filters them, BENCHPKGS narrows the packages.
# End-to-end benchmarks run the real binaries, hence tools and build.
.PHONY: bench
bench: tools build ## run benchmarks: BENCH=<regexp> BENCHPKGS=<packages>
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -timeout 30m $(BENCHPKGS)

.PHONY: lint
lint: ## check gofmt on the repository's Go files, then go vet
	@files=$$(git ls-files --cached --others --exclude-standard -- '*.go' ':(exclude)**/testdata/**' \
		| while read -r f; do if [ -f "$$f" ]; then echo "$$f"; fi; done); \
	unformatted=$$(if [ -n "$$files" ]; then $(GOFMT) -l $$files; fi); \
	if [ -n "$$unformatted" ]; then \
		echo 'gofmt: these files are not formatted (run gofmt -w on them):'; \
		echo "$$unformatted"; \
		exit 1; \
	fi
	$(GO) vet ./...

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME each
	@targets=$$($(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ {t[n++] = $$1; next} /^ok/ {for (i = 0; i < n; i++) print $$2, t[i]} {n = 0}'); \
	if [ -z "$$targets" ]; then echo 'fuzz: no fuzz targets'; exit 0; fi; \
	while read -r pkg target; do \
		echo "== $$pkg $$target ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg" </dev/null; \
	done <<< "$$targets"

.PHONY: clean
clean: ## remove bin/ and artifacts/ (keeps .tools)
	rm -rf bin artifacts

.PHONY: clean-tools
clean-tools: ## remove .tools (the next test or tools rebuilds them)
	rm -rf .tools
