# sluice: `make demo` runs a flow end to end on the bundled sample data;
# `make test` runs the whole suite. Everything else here serves those two.

GO       ?= go
BIN      := bin
PLUGINS  := $(notdir $(patsubst %/main.go,%,$(wildcard plugins/*/main.go)))
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
STATICCHECK_VERSION := v0.8.2

.PHONY: build demo test check-tools lint bench generate clean

## build: bin/sluice and one bin/sluice-plugin-<name> per connector
build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/sluice ./cmd/sluice
	@for p in $(PLUGINS); do \
		echo "$(GO) build -o $(BIN)/sluice-plugin-$$p ./plugins/$$p"; \
		$(GO) build -trimpath -o $(BIN)/sluice-plugin-$$p ./plugins/$$p || exit 1; \
	done

DEMO_SF_ADDR ?= 127.0.0.1:8484

## demo: run flows/contacts-to-parquet.hcl on testdata/, then flows/campaign-leads.hcl into the
## Salesforce emulator (no account, no credentials)
# The demo trusts the plugins it just built by locking their checksums;
# see "Plugins and the lock file" in the README.
demo: build
	$(BIN)/sluice plugins lock
	$(BIN)/sluice validate flows/contacts-to-parquet.hcl
	$(BIN)/sluice run flows/contacts-to-parquet.hcl
	@echo; echo "Output: out/contacts/ (Parquet, partitioned by country); rejected records: out/rejected/"; echo
	@echo "Starting the Salesforce emulator on $(DEMO_SF_ADDR) for flows/campaign-leads.hcl ..."
	@mkdir -p out; $(BIN)/sluice dev salesforce --addr $(DEMO_SF_ADDR) > out/emulator.log 2>&1 & pid=$$!; \
	trap "kill $$pid 2>/dev/null" EXIT; \
	for i in $$(seq 1 100); do grep -q "^  base_url:" out/emulator.log 2>/dev/null && break; sleep 0.1; done; \
	SLUICE_VAR_sf_login_url=http://$(DEMO_SF_ADDR) $(BIN)/sluice run flows/campaign-leads.hcl; status=$$?; \
	echo; echo "Leads created in the emulator; refused rows, with Salesforce's code and message: out/rejected-leads/"; \
	exit $$status

## test: vet, staticcheck and every test (the README's test command; CI runs it)
test: lint check-tools
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -count=1 -race -timeout 20m ./sdk/... ./engine/...

# Tests that need a server binary say what to install; under CI=true they
# fail instead of skipping.
check-tools:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		echo "note: PostgreSQL server binaries not found; install them with: apt-get install -y postgresql"
	@test -x /usr/bin/chromium || \
		echo "note: chromium not found (the run-history page test needs it); install it with: apt-get install -y chromium"

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: benchmarks that report ratios against a baseline measured in the same run
bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./sdk/rpc/ ./engine/ ./engine/transform/ ./plugins/file/...
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./cmd/sluice/ ./plugins/s3/ ./plugins/redshift/... ./plugins/salesforce/... ./engine/daemon/

## generate: regenerate the protocol code (needs protoc: apt-get install protobuf-compiler)
generate:
	@command -v protoc >/dev/null || { echo "protoc not found: apt-get install -y protobuf-compiler"; exit 1; }
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --proto_path=sdk/protocol/sluicev1 \
		--go_out=paths=source_relative:sdk/protocol/sluicev1 \
		--go-grpc_out=paths=source_relative:sdk/protocol/sluicev1 plugin.proto
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc --proto_path=plugins/salesforce/eventbusv1 \
		--go_out=paths=source_relative:plugins/salesforce/eventbusv1 \
		--go-grpc_out=paths=source_relative:plugins/salesforce/eventbusv1 pubsub_api.proto

clean:
	rm -rf $(BIN) out .sluice sluice.lock.hcl
