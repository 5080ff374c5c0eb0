# xdpath: one Makefile for everything. `make help` lists the targets.
CC      ?= gcc
CLANG   ?= clang
BUILD   := build
BIN     := $(BUILD)/bin
OBJ     := $(BUILD)/obj
PYTHON  := /usr/bin/python3

CFLAGS  ?= -O2 -g
PKGS    := json-c libmnl libbpf yaml-0.1
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -Wno-missing-field-initializers \
           -D_GNU_SOURCE -Iinclude -Ilib -Icni -Ipolicy -Ifilter -I$(BUILD)/bpf $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS  := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

ifeq ($(SANITIZE),1)
CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
OBJ     := $(BUILD)/obj-san
BIN     := $(BUILD)/bin-san
TESTDIR := $(BUILD)/test-san
endif
TESTDIR ?= $(BUILD)/test

LIB_SRCS  := $(wildcard lib/*.c)
CNI_SRCS  := $(wildcard cni/*.c)
CNI_LIB   := $(filter-out cni/main.c,$(CNI_SRCS)) $(LIB_SRCS)
CNI_OBJS  := $(CNI_LIB:%.c=$(OBJ)/%.o)

# The agent: every agent/*.c but the CLI, plus lib/ and the policy library
# (policysrc.c); libnftables for masquerade, libcurl for the API server.
CTL_SRCS := agent/xdpathctl.c $(wildcard agent/ctl_*.c)
AGENT_SRCS := $(filter-out agent/main.c $(CTL_SRCS),$(wildcard agent/*.c)) $(LIB_SRCS) \
              $(wildcard policy/*.c) $(wildcard filter/*.c)
AGENT_OBJS := $(AGENT_SRCS:%.c=$(OBJ)/%.o)
AGENT_LDLIBS := $(LDLIBS) $(shell pkg-config --libs libnftables libcurl 2>/dev/null) -lpthread

# The policy library (NetworkPolicy -> map contents), linked into its tests.
POLICY_SRCS := $(wildcard policy/*.c)
POLICY_OBJS := $(POLICY_SRCS:%.c=$(OBJ)/%.o)
FILTER_SRCS := $(wildcard filter/*.c)
FILTER_OBJS := $(FILTER_SRCS:%.c=$(OBJ)/%.o)

UNIT_SRCS := $(wildcard test/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:test/unit/%.c=$(TESTDIR)/%)

# BPF: one object per attach point, a bpftool skeleton for each.
BPF_PROGS := from_pod pod_entry to_pod xdp_uplink
BPF_OBJS  := $(BPF_PROGS:%=$(BUILD)/bpf/%.bpf.o)
BPF_SKELS := $(BPF_PROGS:%=$(BUILD)/bpf/%.skel.h)
BPF_CFLAGS := -O2 -g -Wall -Werror -target bpf -D__TARGET_ARCH_x86 \
              -I/usr/include/$(shell uname -m)-linux-gnu -Iinclude -Ibpf

.PHONY: all deps test unit integration conformance fuzz fuzz-short bench demo clean help

all: $(BPF_SKELS) $(BIN)/xdpath $(BIN)/xdpathd $(BIN)/xdpathctl

$(BUILD)/bpf/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/lib/*.h include/xdpath/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(BPF_CFLAGS) -c -o $@ $<

$(BUILD)/bpf/%.skel.h: $(BUILD)/bpf/%.bpf.o
	bpftool gen skeleton $< name $* > $@

help:
	@echo "make          build build/bin/xdpath, xdpathd (agent), xdpathctl"
	@echo "make demo     install deps, build, run the demo (2 nodes x 2 pods on the eBPF datapath)"
	@echo "make test     install deps, build, run unit + integration + short fuzz + NetworkPolicy conformance"
	@echo "make conformance  the NetworkPolicy conformance cases (test/conformance) on a 2-node sandbox"
	@echo "make bench    CNI ADD/DEL and pod-to-pod datapath benchmarks (ratios against references and limits)"
	@echo "make bench-policy  NetworkPolicy cost vs allow entries (test_run ns/packet, RR vs iptables/ipset)"
	@echo "make bench-filter  emergency filter cost vs xdp-filter (test_run ns/packet) and push-to-effect latency"
	@echo "make bench-k8s     the agent with the Kubernetes API at 10k pods/policies: sync time, RSS, event->map latency"
	@echo "make fuzz     long libFuzzer runs over the config and policy parsers (FUZZ_SECONDS each)"
	@echo "make SANITIZE=1 ...  build with ASan/UBSan"

deps:
	@scripts/install-deps.sh

$(OBJ)/%.o: %.c $(wildcard cni/*.h lib/*.h policy/*.h filter/*.h include/xdpath/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN)/xdpath: $(OBJ)/cni/main.o $(CNI_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(TESTDIR)/%: test/unit/%.c $(CNI_OBJS) $(wildcard test/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

# Agent objects include the skeletons (loader.c) and agent/*.h.
$(OBJ)/agent/%.o: agent/%.c $(BPF_SKELS) $(wildcard agent/*.h lib/*.h policy/*.h include/xdpath/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BIN)/xdpathd: $(OBJ)/agent/main.o $(AGENT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(AGENT_LDLIBS)

# `policy lint` and `filter check|test` run the libraries offline.
$(BIN)/xdpathctl: $(CTL_SRCS:%.c=$(OBJ)/%.o) $(POLICY_OBJS) $(FILTER_OBJS) $(OBJ)/lib/ipaddr.o \
		   $(OBJ)/lib/fsutil.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs json-c yaml-0.1 2>/dev/null)

# Agent unit tests (test_agent_*.c) link the agent's modules.
$(TESTDIR)/test_agent_%: test/unit/test_agent_%.c $(AGENT_OBJS) $(wildcard test/unit/*.h agent/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iagent $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(AGENT_LDLIBS) -lcmocka

# Policy unit tests (test_policy_*.c) link the policy library. A static
# pattern rule: the objects are mentioned nowhere else, and a plain pattern
# rule would lose to $(TESTDIR)/% whose prerequisites already exist.
POLICY_TESTS := $(filter $(TESTDIR)/test_policy_%,$(UNIT_BINS))
$(POLICY_TESTS): $(TESTDIR)/test_policy_%: test/unit/test_policy_%.c $(POLICY_OBJS) $(CNI_OBJS) $(wildcard test/unit/*.h policy/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

# Filter language unit tests (test_filter_*.c) link the filter library.
FILTER_TESTS := $(filter $(TESTDIR)/test_filter_%,$(UNIT_BINS))
$(FILTER_TESTS): $(TESTDIR)/test_filter_%: test/unit/test_filter_%.c $(FILTER_OBJS) $(wildcard test/unit/*.h filter/*.h include/xdpath/filter.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) -lcmocka

# test_bpf includes the skeletons (and loads the objects they embed).
$(TESTDIR)/test_bpf: $(BPF_SKELS)

# test_bpf_filter: the filter datapath under test_run, checked against the
# filter library (the reference summarizer and evaluator) and published by
# the agent's map writer.
$(TESTDIR)/test_bpf_filter: test/unit/test_bpf_filter.c $(BPF_SKELS) $(FILTER_OBJS) $(OBJ)/agent/filtermap.o $(wildcard test/unit/*.h filter/*.h agent/filtermap.h include/xdpath/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iagent $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS) -lcmocka

# Policy datapath micro-benchmark: includes the from_pod skeleton (and loads
# the object it embeds), like test_bpf.
$(BUILD)/bench/policy_prog_bench: bench/policy_prog_bench.c bench/benchutil.h lib/pindir.h $(BPF_SKELS) $(wildcard include/xdpath/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

# Filter datapath micro-benchmark (vs xdp-tools' xdp-filter): the
# xdp_uplink skeleton, the filter library (rules) and the agent's map writer.
$(BUILD)/bench/filter_prog_bench: bench/filter_prog_bench.c bench/benchutil.h $(BPF_SKELS) $(FILTER_OBJS) $(OBJ)/agent/filtermap.o $(wildcard include/xdpath/*.h agent/filtermap.h filter/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iagent -Ibench $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(LDLIBS)

# libFuzzer targets over the network-config parser and the policy
# manifest parser (clang only).
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE \
               -Iinclude -Ilib -Icni -Ipolicy -Ifilter $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
FUZZERS     := config policy filter
$(BUILD)/fuzz/fuzz_config: test/fuzz/fuzz_config.c $(CNI_LIB)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/fuzz_filter: test/fuzz/fuzz_filter.c $(FILTER_SRCS) $(wildcard filter/*.h include/xdpath/filter.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

$(BUILD)/fuzz/fuzz_policy: test/fuzz/fuzz_policy.c $(POLICY_SRCS) $(LIB_SRCS) $(wildcard policy/*.h)
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^) $(LDLIBS)

# libcni test driver, built offline against Debian's libcni sources.
$(BUILD)/test/cnidrv: test/libcni-driver/main.go
	@mkdir -p $(BUILD)/gopath/src/cnidrv $(dir $@)
	cp $< $(BUILD)/gopath/src/cnidrv/main.go
	cd $(BUILD)/gopath/src/cnidrv && GO111MODULE=off GOFLAGS= \
		GOPATH=$(CURDIR)/$(BUILD)/gopath:/usr/share/gocode GOCACHE=$(CURDIR)/$(BUILD)/gocache \
		go build -o $(CURDIR)/$@ .

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BIN)/xdpath $(BIN)/xdpathd $(BIN)/xdpathctl $(BUILD)/test/cnidrv
	XDPATH_PLUGIN=$(CURDIR)/$(BIN)/xdpath $(PYTHON) -m pytest -q test/integration

# New inputs go to build/ (the first directory); the seeds stay read-only.
# Each fuzzer runs for FUZZ_SECONDS (fuzz-short: 20 s each).
FUZZ_SECONDS ?= 600
fuzz-short: FUZZ_SECONDS := 20
fuzz-short fuzz: $(FUZZERS:%=$(BUILD)/fuzz/fuzz_%)
	@mkdir -p $(BUILD)/fuzz/corpus $(BUILD)/fuzz/corpus-policy $(BUILD)/fuzz/corpus-filter
	$(BUILD)/fuzz/fuzz_config -max_total_time=$(FUZZ_SECONDS) $(BUILD)/fuzz/corpus test/fuzz/corpus/config
	$(BUILD)/fuzz/fuzz_policy -max_total_time=$(FUZZ_SECONDS) -dict=test/fuzz/policy.dict \
		$(BUILD)/fuzz/corpus-policy test/fuzz/corpus/policy
	$(BUILD)/fuzz/fuzz_filter -max_total_time=$(FUZZ_SECONDS) -dict=test/fuzz/filter.dict \
		$(BUILD)/fuzz/corpus-filter test/fuzz/corpus/filter

# NetworkPolicy conformance: the upstream e2e world (x/y/z, a/b/c) on a
# 2-node sandbox, every case of test/conformance/cases.json (generated by
# gen_cases.py, whose --check fails if the file was edited by hand).
conformance: $(BIN)/xdpath $(BIN)/xdpathd $(BIN)/xdpathctl
	$(PYTHON) test/conformance/gen_cases.py --check
	scripts/netpol-conformance test/conformance/cases.json

test: deps
	$(MAKE) all
	$(MAKE) unit
	$(MAKE) fuzz-short
	$(MAKE) integration
	$(MAKE) conformance

bench: deps all $(BUILD)/bench/policy_prog_bench $(BUILD)/bench/filter_prog_bench
	scripts/bench-cni.sh
	scripts/bench-datapath.sh
	scripts/bench-policy.sh
	scripts/bench-filter.sh
	scripts/bench-k8s.sh

# NetworkPolicy cost against the number of allow entries (BPF_PROG_TEST_RUN
# and pod-to-pod RR vs iptables/ipset); BENCH_POL_* in scripts/bench-policy.sh.
.PHONY: bench-policy
bench-policy: deps all $(BUILD)/bench/policy_prog_bench
	scripts/bench-policy.sh

# Emergency filters: the XDP program vs xdp-tools' xdp-filter (BPF_PROG_TEST_RUN)
# and `xdpathctl filter add` -> effect latency; BENCH_FLT_* in scripts/bench-filter.sh.
.PHONY: bench-filter
bench-filter: deps all $(BUILD)/bench/filter_prog_bench
	scripts/bench-filter.sh

# The agent with the Kubernetes API at 10 000 pods / 10 000 policies: sync
# time, RSS, watch event -> map latency; BENCH_K8S_* in scripts/bench-k8s.sh.
.PHONY: bench-k8s
bench-k8s: deps all
	scripts/bench-k8s.sh

demo: deps all
	scripts/demo.sh

clean:
	rm -rf $(BUILD)
