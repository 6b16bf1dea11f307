# Everything here is a thin wrapper around hack/*.sh, which also work alone.
GO       ?= go
FUZZTIME ?= 30s

export PATH := $(CURDIR)/.bin:/usr/local/go/bin:$(PATH)

.PHONY: build test lint fuzz bench-pull demo deps clean validate-runtime

## build: compile hull into bin/hull (static: it also runs as --init inside containers)
build:
	CGO_ENABLED=0 $(GO) build -o bin/hull ./cmd/hull

## test: every test (deps, gofmt, vet, staticcheck, go test ./...); run as root
test:
	./hack/test.sh

## lint: gofmt, go vet and staticcheck
lint:
	./hack/lint.sh

## fuzz: fuzz each Fuzz target for FUZZTIME (default 30s), e.g. make fuzz FUZZTIME=5m
fuzz:
	FUZZTIME=$(FUZZTIME) ./hack/fuzz.sh

## bench-pull: pull benchmark
bench-pull:
	./bench/pull.sh

## demo: build hull, import a busybox image, list and inspect it; run as root
demo:
	./hack/demo.sh

## deps: install the Debian packages and Go tools the tests need; run as root
deps:
	./hack/install-deps.sh

## validate-runtime: OCI runtime-tools validation suite, runc baseline vs hull runtime; run as root
##   flags via VALIDATE_RUNTIME_FLAGS, e.g. VALIDATE_RUNTIME_FLAGS='--report-only --tests kill'
validate-runtime:
	./hack/runtime-validation.sh $(VALIDATE_RUNTIME_FLAGS)

clean:
	rm -rf bin
