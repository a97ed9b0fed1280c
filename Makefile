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

# One build configuration for everything make compiles — tests, bin/, the tools and the images'
# binaries — so that each package is compiled once and the build cache serves the rest. With cgo
# on for the tests and off for the static binaries, a fresh clone compiled every dependency two
# or three times over, which took a cold `make test` past its budget. Nothing here needs cgo.
export CGO_ENABLED := 0

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

# Docker images and the compose deployment (deploy/docker, deploy/docker-compose.yml). Every
# image is FROM scratch with static binaries built here: nothing is pulled from a registry.
# IMAGE_TAG tags rowforge/{controller,worker,sinkd,nats}; IMAGE_GOARCH is the Docker engine's.
DOCKER ?= docker
IMAGE_TAG ?= dev
IMAGE_GOARCH ?= $(shell $(DOCKER) version --format '{{.Server.Arch}}' 2>/dev/null || $(GO) env GOARCH)
IMAGE_BIN := $(BIN)/images
# `docker compose` (v2) when the engine's CLI has it, else docker-compose (v1.29+).
COMPOSE ?= $(shell if $(DOCKER) compose version >/dev/null 2>&1; then echo '$(DOCKER) compose'; else echo docker-compose; fi)
COMPOSE_PROJECT ?= rowforge
# The host folder sinkd writes datasets under; the containers run as the invoking user, so the
# files are theirs.
ROWFORGE_ARTIFACTS ?= $(CURDIR)/artifacts
COMPOSE_RUN = ROWFORGE_TAG='$(IMAGE_TAG)' ROWFORGE_ARTIFACTS='$(abspath $(ROWFORGE_ARTIFACTS))' \
	ROWFORGE_UID=$$(id -u) ROWFORGE_GID=$$(id -g) \
	$(COMPOSE) --project-name '$(COMPOSE_PROJECT)' --file deploy/docker-compose.yml

# The commands are built with the flags of `make build` (the linker's apart), so that their
# packages come from the build cache rather than being compiled again.
.PHONY: images
images: tools ## build the docker images FROM scratch: rowforge/{controller,worker,sinkd,nats}:IMAGE_TAG
	GOOS=linux GOARCH=$(IMAGE_GOARCH) $(GO) build -ldflags='-s -w' \
		-o $(IMAGE_BIN)/ ./cmd/controller ./cmd/worker ./cmd/sinkd
	@GO='$(GO)' deploy/docker/static-binary.sh $(TOOLS)/nats-server \
		github.com/nats-io/nats-server/v2@$$($(GO) list -m -f '{{.Version}}' github.com/nats-io/nats-server/v2) \
		$(IMAGE_GOARCH) $(IMAGE_BIN)/nats-server
	@GO='$(GO)' deploy/docker/static-binary.sh $(TOOLS)/nats \
		github.com/nats-io/natscli/nats@$(NATSCLI_VERSION) $(IMAGE_GOARCH) $(IMAGE_BIN)/nats
	@for p in controller worker sinkd; do \
		DOCKER='$(DOCKER)' deploy/docker/build-image.sh deploy/docker/$$p.Dockerfile \
			rowforge/$$p:$(IMAGE_TAG) $(IMAGE_BIN)/$$p=/$$p; \
	done
	@DOCKER='$(DOCKER)' deploy/docker/build-image.sh deploy/docker/nats.Dockerfile rowforge/nats:$(IMAGE_TAG) \
		$(IMAGE_BIN)/nats-server=/nats-server $(IMAGE_BIN)/nats=/nats \
		deploy/nats/nats-server.conf=/etc/nats/nats-server.conf =/data

# compose-up runs the controller's one-shot quickstart run (1000 rows, seed 42) on the
# deployment, waits for it to exit, prints its log and fails unless it exited 0. The services
# stay up (run `make compose-up` again for another run) until `make compose-down`. The
# controller's container is found by compose's labels (not `compose ps`, which differs between
# v1 and v2 and lists one-off `compose run` containers too).
.PHONY: compose-up
compose-up: images ## run deploy/docker-compose.yml (COMPOSE_PROJECT): the dataset goes to ROWFORGE_ARTIFACTS/quickstart
	mkdir -p '$(ROWFORGE_ARTIFACTS)'
	$(COMPOSE_RUN) rm --force --stop controller
	$(COMPOSE_RUN) up --detach
	@ctrl=$$($(DOCKER) ps --all --quiet --filter label=com.docker.compose.project='$(COMPOSE_PROJECT)' \
		--filter label=com.docker.compose.service=controller --filter label=com.docker.compose.oneoff=False); \
	if [ -z "$$ctrl" ]; then echo 'compose-up: no controller container'; exit 1; fi; \
	code=$$($(DOCKER) wait "$$ctrl"); \
	echo "== controller log (exit code $$code)"; \
	$(DOCKER) logs "$$ctrl"; \
	if [ "$$code" != 0 ]; then \
		echo "== the other services' logs"; \
		$(COMPOSE_RUN) logs --no-color nats sinkd worker; \
		echo "compose-up: the controller exited with $$code"; \
		exit 1; \
	fi; \
	echo "compose-up: dataset under $(abspath $(ROWFORGE_ARTIFACTS)) (/artifacts in the containers, see the last line above); services still up: make compose-down"

.PHONY: compose-logs
compose-logs: ## print the compose deployment's logs
	$(COMPOSE_RUN) logs --no-color

.PHONY: compose-down
compose-down: ## stop and remove the compose deployment, its network and volumes (not the artifacts)
	$(COMPOSE_RUN) down --volumes --remove-orphans
