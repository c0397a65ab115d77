# WiseHosting — run `make` (or `make help`) to see what each target does.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)

GO        ?= go
# An execution count, not a duration: a duration-bounded run can fail with
# "context deadline exceeded" and no crasher when the time runs out
# (go.dev/issue/75804, a race in Go's fuzzing coordinator before 1.27).
# 200000x is about 5-10 s per target here.
FUZZTIME  ?= 200000x
BENCHTIME ?= 1s
PKGS      := ./...
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LISTEN    ?= 127.0.0.1:8080
DATA_DIR  ?= data

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: run
run: ## Start the whole platform here: control plane + local worker, SQLite in ./data (installs podman etc. as root if missing)
	@scripts/test-deps.sh
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/wisehosting ./cmd/wisehosting
	bin/wisehosting dev --listen $(LISTEN) --data-dir $(DATA_DIR)

.PHONY: build
build: ## Build bin/wisehosting, bin/worker-agent and bin/wisehosting-admin
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/wisehosting ./cmd/wisehosting
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/worker-agent ./cmd/worker-agent
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/wisehosting-admin ./cmd/wisehosting-admin

.PHONY: deps
deps: ## Install what the tests need (idempotent; uses apt-get as root when something is missing)
	@scripts/test-deps.sh

.PHONY: test
test: deps lint web-check web-browser unit fuzz ## Install test dependencies, then lint, the dashboard checks and its browser test, unit tests (race) and a short fuzz run

.PHONY: unit
unit: ## go test -race over every package, against SQLite and a local PostgreSQL (started if needed); 40 min cap
	@if [ -z "$$WH_TEST_DATABASE_URL" ] && [ "$$(id -u)" = 0 ]; then \
	  export WH_TEST_DATABASE_URL=$$(scripts/postgres-test.sh); fi; \
	  if [ -n "$$CI" ]; then export WH_REQUIRE_PODMAN=1; fi; \
	  timeout --kill-after=1m 40m $(GO) test -race -count=1 -timeout 20m $(PKGS)

.PHONY: lint
lint: ## go vet, gofmt check and package boundary check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	@scripts/check-boundaries.sh

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME executions (default 200000x; a duration such as 1m works too)
	$(GO) test -run '^$$' -fuzz '^FuzzParseVerify$$' -fuzztime $(FUZZTIME) ./internal/wsproto
	$(GO) test -run '^$$' -fuzz '^FuzzPayloadValidator$$' -fuzztime $(FUZZTIME) ./internal/wsproto
	$(GO) test -run '^$$' -fuzz '^FuzzRuntimeLogDecode$$' -fuzztime $(FUZZTIME) ./internal/wsproto

.PHONY: bench
bench: ## Run the benchmarks (separate from tests); figures go to docs/BENCHMARKS.md
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $(PKGS)

.PHONY: web-check
web-check: ## Dashboard: npm ci, type check, component tests (Vitest), rebuild web/dist and fail if it differs from the committed one
	@scripts/web-check.sh

.PHONY: web-build
web-build: ## Dashboard: rebuild web/dist from web/src (commit the result; the binary embeds it)
	@scripts/web-deps.sh
	cd web && npx --no-install tsc --noEmit -p . && npx --no-install vite build

.PHONY: web-browser
web-browser: ## Dashboard end to end in headless Chromium against wisehosting dev with podman; screenshots in web/e2e/screenshots/
	@scripts/web-deps.sh
	WH_WEB_E2E_DONE= WH_REQUIRE_BROWSER=1 WH_REQUIRE_PODMAN=1 $(GO) test -count=1 -v -timeout 15m -run TestDashboardInChromium ./internal/webe2e

# Within make test the browser test runs once, on its own (web-browser),
# not again beside the other end-to-end tests in unit.
test: export WH_WEB_E2E_DONE = 1

.PHONY: web-dev
web-dev: ## Dashboard dev server with hot reload on :5173, proxying /v1 to a control plane on 127.0.0.1:8080 (make run)
	@scripts/web-deps.sh
	cd web && npx --no-install vite
