# The two commands a newcomer needs: `make run` and `make test`. See README.md.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
# The patch release with the standard library's security fixes (govulncheck in `make lint`). The go command
# fetches it once from the module proxy; a machine's own Go would ignore go.mod's toolchain line.
export GOTOOLCHAIN := go1.26.10
GO ?= go
BIN := bin/redirector

.PHONY: run test test-deps build lint bench bench-quick bench-go chaos fuzz clean

## run: the service in development mode (embedded store kept in ./data, sandbox platform, no configuration)
run:
	$(GO) run ./cmd/redirector -dev

## build: a static, reproducible binary in bin/
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o $(BIN) ./cmd/redirector

## test: vet and every test with the race detector, against real redis-server processes
test: test-deps
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

## test-deps: what the tests need on this machine (redis-server, chromium, poppler-utils, axe-core), installed if missing
test-deps:
	@scripts/ensure-redis.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-poppler.sh
	@scripts/ensure-axe.sh

## lint: formatting, vet and known vulnerabilities
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt wants to rewrite:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	scripts/govulncheck.sh

## bench: Go micro-benchmarks of the hot path, then a load test of the real binary driven by wrk
## with Go CPU profiles of the service (flags for the load test in BENCH_FLAGS, e.g. make bench BENCH_FLAGS=-mem1m)
bench: test-deps
	@scripts/ensure-wrk.sh
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...
	$(GO) run ./bench/cmd/loadtest -pprof $(BENCH_FLAGS)

## bench-quick: the load test's comparisons with the floors alone (issue 20's targets), with CPU profiles; about 4 minutes
bench-quick:
	@scripts/ensure-redis.sh
	@scripts/ensure-wrk.sh
	$(GO) run ./bench/cmd/loadtest -quick $(BENCH_FLAGS)

## bench-go: the Go micro-benchmarks alone
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

## chaos: the long fault-injection suite (Redis killed, paused; platform failing; SIGTERM under load)
chaos: test-deps cluster-test
	$(GO) test -race -count=1 -timeout 30m -tags chaos ./chaos/...
	$(GO) test -race -count=1 -timeout 10m -tags chaos -run '^TestMirror' ./cmd/redirector/

## fuzz: ten minutes of fuzzing for each parser of outside input
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 10m ./internal/aliurl/

clean:
	rm -rf bin

## cluster-test: three replicas (processes) over a real six-node Redis Cluster on loopback: changes
## reach every replica within 1s, clicks add up, a master killed under traffic loses nothing, and
## throughput with 1, 2, 3 replicas (about 2 minutes; CLUSTER_TEST_BIN=path tests a given binary)
.PHONY: cluster-test
cluster-test: test-deps
	$(GO) test -count=1 -v -timeout 10m -tags cluster ./cluster/
