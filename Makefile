# gcload — see README.md
GO      ?= go
PKGS    ?= ./...
BENCH   ?= .
BENCHTIME ?= 1s

.PHONY: build test race bench bench-e2e lint run fuzz clean

build:
	$(GO) build -o bin/gcload ./cmd/gcload

test:
	$(GO) test $(PKGS)

race:
	$(GO) test -race $(PKGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) $(PKGS)

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet $(PKGS)

run: build
	./bin/gcload run scenarios/smoke.yaml

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 30s ./xccos/
	$(GO) test -run '^$$' -fuzz FuzzScan -fuzztime 30s ./sipnet/

clean:
	rm -rf bin results
