# One entry point for everything a developer or CI runs. `make test` is the
# command the README gives a newcomer and the one CI runs.

GO          ?= go
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null)
ifeq ($(VERSION),)
VERSION     := dev
endif
LDFLAGS     := -X main.version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
TEST_TIMEOUT ?= 30m

.PHONY: test deps bench soak lint build clean

## test: every test — unit, store (SQLite and PostgreSQL), interop, browser.
test: deps
	$(GO) test ./... -count=1 -timeout $(TEST_TIMEOUT)

## deps: install the Node packages the interop tests and the upstream test provider need.
deps:
	@if [ -f test/interop/package-lock.json ]; then \
		cd test/interop && npm ci --no-audit --no-fund --loglevel=error; \
	fi
	@if [ -f test/upstream-op/package-lock.json ]; then \
		cd test/upstream-op && npm ci --no-audit --no-fund --loglevel=error; \
	fi

## bench: Go benchmarks of the hot paths, then the load generator for whole
## flows on SQLite and PostgreSQL (flags via LOAD_FLAGS, e.g. LOAD_FLAGS='-duration 30s').
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./... && $(GO) run ./test/load $(LOAD_FLAGS)

## soak: the cluster tests (three `latchkey serve` nodes on PostgreSQL) with
## release-check counts: 2,000 tickets and 1,000 codes and refresh tokens,
## each raced by 6 requests across the nodes.
soak:
	$(GO) test ./test/cluster -count=1 -v -timeout $(TEST_TIMEOUT) -args -soak

## lint: gofmt, go vet and staticcheck must all be clean.
lint:
	@unformatted="$$(find . -name '*.go' -not -path '*/node_modules/*' -not -path './.git/*' -exec gofmt -l {} +)"; \
	if [ -n "$$unformatted" ]; then echo "gofmt needed on:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

## build: the latchkey binary in bin/, stamped with the git version.
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/latchkey ./cmd/latchkey

clean:
	rm -rf bin
