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
REVISION    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
IMAGE       ?= localhost/latchkey:$(VERSION)
IMAGE_CONTEXT := build/image
CA_BUNDLE   ?= /etc/ssl/certs/ca-certificates.crt
# package-check keeps its image store here, on the vfs driver (works where
# overlay mounts do not, e.g. inside a container).
PACKAGE_STORE ?= $(CURDIR)/build/containers

.PHONY: test deps bench soak fuzz lint build clean image image-context package-check

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
## flows on SQLite and PostgreSQL beside the machine's signing and argon2id limits
## (flags via LOAD_FLAGS, e.g. LOAD_FLAGS='-duration 30s -cpuprofile-dir build/profiles').
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./... && $(GO) run ./test/load $(LOAD_FLAGS)

## fuzz: run every fuzz target for FUZZTIME each (default 10s). Seed
## corpora live in each package's testdata/fuzz; a crasher is written there
## and then runs as a regression test in `make test`.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./internal/oauth:FuzzParseRequest \
	./internal/oauth:FuzzParseParams \
	./internal/oauth:FuzzPKCEAndScope \
	./internal/op:FuzzAuthorizeRequest \
	./internal/op:FuzzEncoders \
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

## image-context: the image's build context in build/image: the static
## binary (time zone data embedded), the CA bundle, passwd/group and /data.
image-context:
	@test -r $(CA_BUNDLE) || { echo "image-context: no CA bundle at $(CA_BUNDLE) (install ca-certificates or set CA_BUNDLE)"; exit 1; }
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/rootfs/usr/bin $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs $(IMAGE_CONTEXT)/state/data
	CGO_ENABLED=0 $(GO) build -trimpath -tags timetzdata -ldflags "-s -w $(LDFLAGS)" -o $(IMAGE_CONTEXT)/rootfs/usr/bin/latchkey ./cmd/latchkey
	cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs/ca-certificates.crt
	printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/data:/sbin/nologin\n' > $(IMAGE_CONTEXT)/rootfs/etc/passwd
	printf 'root:x:0:\nnonroot:x:65532:\n' > $(IMAGE_CONTEXT)/rootfs/etc/group
	chmod 0755 $(IMAGE_CONTEXT)/rootfs/usr/bin/latchkey && chmod 0644 $(IMAGE_CONTEXT)/rootfs/etc/passwd $(IMAGE_CONTEXT)/rootfs/etc/group $(IMAGE_CONTEXT)/rootfs/etc/ssl/certs/ca-certificates.crt
	chmod 0700 $(IMAGE_CONTEXT)/state/data

## image: the container image $(IMAGE), built from Containerfile with docker,
## podman or buildah, whichever works (CONTAINER_ENGINE=… to choose).
image: image-context
	VERSION=$(VERSION) REVISION=$(REVISION) deploy/image.sh build $(IMAGE) $(IMAGE_CONTEXT)

## package-check: builds the image with podman or buildah on the vfs driver
## and runs it (or, where containers cannot start, its extracted filesystem)
## against a live server; verifies and scores the systemd unit; lints and
## renders the Helm chart and checks the rendered objects (go test ./deploy).
package-check:
	@engine="$${CONTAINER_ENGINE:-$$(command -v podman >/dev/null 2>&1 && echo podman || echo buildah)}"; \
	$(MAKE) --no-print-directory image CONTAINER_ENGINE=$$engine STORAGE_DRIVER=vfs STORAGE_ROOT=$(PACKAGE_STORE) && \
	PATH="$$PATH:$$($(GO) env GOPATH)/bin" LATCHKEY_IMAGE=$(IMAGE) LATCHKEY_IMAGE_ENGINE=$$engine \
		LATCHKEY_IMAGE_STORE=$(PACKAGE_STORE) LATCHKEY_IMAGE_VERSION=$(VERSION) \
		$(GO) test ./deploy/ -count=1 -v -timeout 15m

clean:
	rm -rf bin build
