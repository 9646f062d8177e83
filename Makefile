# switchboard — the two setup commands are `make run` and `make test`.
GO      ?= go
PKGS    ?= ./...
FUZZTIME ?= 60s

.PHONY: run test build fuzz bench bench-go lint clean soak soak-short

# The demo compiles SQLite's C source at -O1 without debug information: on an empty Go
# build cache that brings `make run` to serving in about 35 s instead of 52 s, and the
# demo loses nothing that matters (appends are fsync-bound; see docs/performance.md).
# `make build` and the tests keep Go's default -O2 -g.
DEMO_CGO_CFLAGS ?= -O1 -g0

## run: serve the demo configuration with the bundled HubSpot emulator on 127.0.0.1:8080
run:
	CGO_CFLAGS="$(DEMO_CGO_CFLAGS)" $(GO) build -o bin/switchboard ./cmd/switchboard
	bin/switchboard dev demo --config demo/switchboard.yaml

## test: the whole test suite, always with the race detector
test:
	@if [ -n "$$SWITCHBOARD_TEST_POSTGRES" ]; then echo "integration suites: PostgreSQL (event store, projections, serve) run (SWITCHBOARD_TEST_POSTGRES is set)"; \
	else echo "integration suites skipped: PostgreSQL (SWITCHBOARD_TEST_POSTGRES is not set; .ci/run sets it when PostgreSQL answers on 127.0.0.1:5432)"; fi
	@if [ -n "$$SWITCHBOARD_TEST_NATS" ] && [ -n "$$SWITCHBOARD_TEST_POSTGRES" ]; then echo "integration suites: NATS bus and two nodes run (SWITCHBOARD_TEST_NATS is set)"; \
	else echo "integration suites skipped: NATS bus and several nodes (they need SWITCHBOARD_TEST_NATS and SWITCHBOARD_TEST_POSTGRES; .ci/run sets them when the services answer)"; fi
	$(GO) test -race -count=1 $(PKGS)

build:
	$(GO) build -o bin/switchboard ./cmd/switchboard

# Each line: package fuzz-target. `make fuzz` runs each for FUZZTIME.
FUZZ_TARGETS = \
	./domain FuzzNormalizePhone \
	./domain FuzzStoredPhone \
	./domain FuzzNormalizeUsername \
	./domain FuzzMapPersonalAgreesWithDecoding \
	./domain FuzzFieldPathsAgreeWithDecoding \
	./adapters/twilio FuzzParseTwilio \
	./adapters/twilio FuzzSignatureMatchesReference \
	./adapters/meta FuzzParseWhatsApp \
	./adapters/meta FuzzParseMessenger \
	./adapters/meta FuzzParseInstagram \
	./adapters/telegram FuzzParseTelegram \
	./adapters/slack FuzzParseSlack

## fuzz: run every fuzz target for FUZZTIME (default 60s)
fuzz:
	@set -e; set -- $(FUZZ_TARGETS); while [ $$# -gt 0 ]; do \
		echo "== fuzz $$2 in $$1 for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$2$$" -fuzztime $(FUZZTIME) $$1; \
		shift 2; \
	done

# `make bench` measures, in one run on one disk: the raw SQLite ceilings (RAW_BENCH: one
# event per transaction, and grouped commits once BenchmarkRawGroupCommit exists — a name
# the regexp matches but the tree lacks is simply absent from the table), the hot-path Go
# benchmarks, `switchboard rebuild` of a sealed store of 1,000,000 events against a raw
# scan of its events table, and `dev load` against the built `serve` with `dev hubspot`
# in four sender mixes; it prints one table of ratios to the ceiling (docs/performance.md).
# About 3–4 minutes, plus the rebuild's: writing its store takes minutes on the 2-core
# machine (not measured). BENCH_FLAGS passes more (go run ./cmd/bench -h; e.g.
# -rebuild-events 20000 for a quick rebuild row, 0 for none).
RAW_BENCH ?= ^Benchmark(RawInsertOneEvent|RawGroupCommit)$$
BENCH_FLAGS ?=

## bench: raw ceilings, hot-path benchmarks and load runs in one table (docs/performance.md)
bench:
	$(GO) run ./cmd/bench -raw '$(RAW_BENCH)' $(if $(SWITCHBOARD_TEST_POSTGRES),-postgres '$(SWITCHBOARD_TEST_POSTGRES)') $(if $(SWITCHBOARD_TEST_NATS),-nats '$(SWITCHBOARD_TEST_NATS)') $(BENCH_FLAGS)

## bench-go: only the hot-path Go benchmarks (benchstat-comparable output)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./eventstore/sqlite/ ./domain/ ./domain/command/

# `make soak` runs the real binary against the emulator under kill -9, emulator restarts
# and HubSpot faults, then checks SPEC rules 8 and 10 (docs/reliability.md). A failing
# run prints its seed; rerun it with SEED=. SOAK_FLAGS passes more (go run ./cmd/soak -h).
SEED ?=
DURATION ?= 2m
SOAK_FLAGS ?=

## soak: the long fault-injection run (DURATION, default 2m; SEED to replay a run)
soak:
	$(GO) run ./cmd/soak $(if $(SEED),-seed $(SEED)) -duration $(DURATION) $(SOAK_FLAGS)

## soak-short: the bounded soak and the 20-new-senders test alone, with -race and -v (both also run in make test)
soak-short:
	$(GO) test -race -count=1 -v -run 'TestSoakShort|TestTwentyNewSenders' ./cmd/soak/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet $(PKGS)
	@command -v staticcheck >/dev/null && staticcheck $(PKGS) || echo "staticcheck not installed: go install honnef.co/go/tools/cmd/staticcheck@latest"

clean:
	rm -rf bin var
