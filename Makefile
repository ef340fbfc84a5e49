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

.PHONY: test deps bench lint build clean fuzz

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

## fuzz: run every fuzz target for FUZZTIME each (default 10s). Seed
## corpora live in each package's testdata/fuzz; a crasher is written there
## and then runs as a regression test in `make test`.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./internal/oauth:FuzzParseRequest \
	./internal/op:FuzzAuthorizeRequest \
	./internal/op:FuzzIDTokenHint \
	./internal/op:FuzzSessionCookies \
	./internal/upstream:FuzzLogoutToken \
	./internal/platform:FuzzReadUserFields \
	./internal/admin/api:FuzzAdminBody \
	./internal/domain:FuzzParseSeconds \
	./internal/domain:FuzzAuditText \
	./internal/platform/ticket:FuzzOrg
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name ($$pkg, $(FUZZTIME))"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -parallel 1; \
	done

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
