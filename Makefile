# gcload — see README.md
GO      ?= go
PKGS    ?= ./...
BENCH   ?= .
BENCHTIME ?= 1s

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE   ?= gcload:$(VERSION)

.PHONY: build static image k8stest test race bench bench-delivery bench-e2e bench-conns peak4x calibrate conform lint run fuzz clean

build:
	$(GO) build -o bin/gcload ./cmd/gcload

# A static binary, as the container image holds (CGO_ENABLED=0).
static:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X github.com/gcload/gcload/cmd/gcload/internal/cli.Version=$(VERSION)" -o bin/gcload-static ./cmd/gcload

# The container image (Dockerfile): IMAGE=registry.example.com/gcload:1.0 make image,
# then push it where the cluster pulls from (docs/distributed.md).
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

test:
	$(GO) test $(PKGS)

# The Kubernetes manifests decoded with the Kubernetes API types: a module of
# its own (deploy/k8stest) that follows gcload's through a replace; tidy it
# after changing gcload's dependencies.
k8stest:
	cd deploy/k8stest && $(GO) mod tidy && $(GO) vet ./... && $(GO) test ./...

race:
	$(GO) test -race $(PKGS)

# Micro-benchmarks: XCCOS encode/decode, SIP scanning, the recorder, the
# authentication header scanner, NTLM and MS-SIPAE signing (docs/auth.md), then
# CPU per delivery on both sides (fan-out: the server process; the swarm:
# received and answered) and memory per idle signed-in user. The swarm
# benchmarks run the reference server in a child process; one op is one
# delivery or one user. See docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime $(BENCHTIME) ./xccos/ ./sipnet/ ./reports/ ./sipauth/ ./sipauth/ntlm/ ./sipauth/sipae/
	$(GO) test -run '^$$' -bench 'SwarmDelivery' -benchtime 200000x ./sipclient/swarm/
	$(GO) test -run '^$$' -bench 'IdleUserMemory' -benchtime 20000x ./sipclient/swarm/

# CPU per delivery on each side, rooms of 1,000 over shared connections,
# without sign-in, with NTLM and with NTLM over TLS (server-cpu-ns/delivery,
# swarm-cpu-ns/delivery: whole processes, steady phase only), then the SIP
# layer's share with and without MS-SIPAE signing (cpu-ns/op: the benchmark
# thread's own CPU). Four times the peak needs about 5 µs a side with NTLM
# (docs/performance.md).
bench-delivery:
	$(GO) test -run '^$$' -bench 'SwarmDelivery/room=1000' -benchtime 200000x ./sipclient/swarm/
	$(GO) test -run '^$$' -bench 'DeliverySIP' -benchtime 200000x -count 3 ./sipnet/

# Four times the published peak (scenarios/peak4x.yaml, about 6 minutes):
# 160 posts/s into rooms of 1,000, NTLM over TLS. ARGS adds flags, e.g.
# ARGS='--set phases.steady.duration=60s' while iterating.
peak4x: build
	./bin/gcload run scenarios/peak4x.yaml --progress plain $(ARGS)

# End-to-end runs (about 20 minutes): sign-in capacity, memory of 60,000
# idle users, the SIPp comparison (needs sipp: apt-get install sip-tester)
# and the full peak scenario against the embedded server.
bench-e2e: build
	$(GO) test -run '^$$' -bench 'SignIn' -benchtime 20000x ./sipclient/swarm/
	$(GO) test -run '^$$' -bench 'IdleUserMemory' -benchtime 60000x ./sipclient/swarm/
	bash bench/compare.sh
	./bin/gcload run scenarios/peak.yaml --progress plain

# The peak scenario with one TLS connection per user (NTLM), the way the
# product scales past one process's 20,000 open files: four gcload serve
# processes on one throw-away PostgreSQL (needs postgresql), four shards
# under gcload coordinate; prints users connected, every process's
# descriptors, memory per idle user on each side and the verdict (about 13
# minutes: sign-in at 100/s; CONNS_FLAGS="-users 8000 -steady 20s" for a
# shorter one). Not in bench-e2e: it is as long as the rest together.
CONNS_FLAGS ?=
bench-conns: build
	$(GO) run ./bench/conns -gcload bin/gcload -out results/conns-$$(date +%Y%m%d-%H%M%S) -signin-rate 100/s $(CONNS_FLAGS)

# The capacity model on this machine: the full calibration sweep (about 8
# minutes, the server as a child process), then the prediction for the OCS
# R2 reference hardware (docs/capacity.md).
calibrate: build
	./bin/gcload calibrate --out results/calibrate
	./bin/gcload capacity results/calibrate

# The conformance suite against the embedded reference server, with JUnit.
conform: build
	mkdir -p results
	./bin/gcload conform --junit results/conformance.xml

# gofmt, go vet, go mod tidy -diff, staticcheck and deadcode -test at
# pinned versions (.ci/lint); fails on any finding.
lint:
	bash .ci/lint

run: build
	./bin/gcload run scenarios/smoke.yaml

fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./xccos/
	$(GO) test -run '^$$' -fuzz '^FuzzParseChat$$' -fuzztime 30s ./xccos/
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime 30s ./sipnet/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 30s ./sipauth/
	$(GO) test -run '^$$' -fuzz '^FuzzParseChallenge$$' -fuzztime 30s ./sipauth/ntlm/
	$(GO) test -run '^$$' -fuzz '^FuzzParseAuthenticate$$' -fuzztime 30s ./sipauth/ntlm/
	$(GO) test -run '^$$' -fuzz '^FuzzParseTargetInfo$$' -fuzztime 30s ./sipauth/ntlm/
	$(GO) test -run '^$$' -fuzz '^FuzzAuthorize$$' -fuzztime 30s ./sipauth/sipae/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime 30s ./sipauth/digest/
	$(GO) test -run '^$$' -fuzz '^FuzzExtractArchive$$' -fuzztime 30s ./coordinate/

clean:
	rm -rf bin results
