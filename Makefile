# governor: build, test, and a local demo cluster.
DEMO_DIR ?= /tmp/governor-demo
NODES ?= 3
# The long chaos run: `make chaos DURATION=30m [SEED=N]`.
DURATION ?= 30m
SEED ?=

.PHONY: all deps build lint-deps test test-unit test-integration test-hostile test-chaos chaos demo demo-down clean binary test-binary ami-validate test-packaging

all: build

deps:
	./scripts/install-deps.sh

# The two bin scripts are made executable here, not only by npm when `npx` first links them: a
# rebuilt dist (a fresh clone in the same place, rm -rf dist) would otherwise leave npx's cached
# link pointing at a file without the x bit ("governor: Permission denied").
build: deps
	npx tsc -p tsconfig.json
	chmod 755 dist/src/cli/governor.js dist/src/cli/governorctl.js

# The dependency rules of shared/DESIGN.md (.dependency-cruiser.cjs): no import cycle in src/, no
# import pointing up a layer. test/unit/layout.test.ts runs the same rules.
lint-deps:
	npx depcruise src --output-type err

# dist/test/chaos: only its *.test.js run (the chaos suite's short run); its other modules are the harness.
# Unit tests (no processes, no ports) run two files at a time; the rest one at a time.
test: build
	node --test --test-concurrency=2 --test-reporter=spec dist/test/unit
	node --test --test-concurrency=1 --test-reporter=spec dist/test/integration dist/test/hostile dist/test/chaos

test-unit: build
	node --test --test-reporter=spec dist/test/unit

test-integration: build
	node --test --test-concurrency=1 --test-reporter=spec dist/test/integration

# The hostile-input suite alone: forged failsafe answers, bad REST requests, garbage in etcd keys,
# foreign data directories, path tricks in WAL names and backups (real clusters).
test-hostile: build
	node --test --test-concurrency=1 --test-reporter=spec dist/test/hostile

# The chaos suite's short run alone (a few faults of each kind; CHAOS_SEED=N replays a run's faults).
test-chaos: build
	node --test --test-concurrency=1 --test-reporter=spec dist/test/chaos

# The long chaos run: random faults for DURATION under writes, then the history checker's verdict
# (fault count per kind, dual-master intervals, lost acknowledged commits, time back to redundancy).
chaos: build
	node dist/test/chaos/long.js --duration $(DURATION) $(if $(SEED),--seed $(SEED))

demo: build
	node dist/src/cli/governor.js demo up --dir $(DEMO_DIR) --nodes $(NODES)
	@echo
	@echo "Cluster is up. Try:"
	@echo "  node dist/src/cli/governorctl.js -c $(DEMO_DIR)/node1/governor.yml list"
	@echo "  make demo-down"

demo-down:
	node dist/src/cli/governor.js demo down --dir $(DEMO_DIR)

# dist/governor: one executable with governor and governorctl (symlink or copy it as governorctl), needing no
# Node.js or node_modules where it runs (Node single executable application; see scripts/build-binary.mjs).
binary: deps
	node scripts/build-binary.mjs

# Runs dist/governor itself (version, help, governorctl symlink, start time, size, wal-push/wal-fetch with every
# codec, a 3-node demo cluster). The test is transpiled on its own, so it runs whatever the tree's type-check says.
test-binary: binary
	npx esbuild test/binary/binary.test.ts --platform=node --format=esm --target=node20 --log-level=warning --outfile=dist/test/binary/binary.test.js
	node --test --test-reporter=spec --test-timeout=300000 dist/test/binary/binary.test.js

# dist/governor for the packaging targets: built when missing (CI builds it in test-binary first).
dist/governor:
	$(MAKE) binary

# The AMI template (ami/governor.pkr.hcl), offline: needs packer (apt-get install -y packer), no AWS credentials.
ami-validate: dist/governor
	cd ami && CHECKPOINT_DISABLE=1 packer validate -var governor_binary=$(CURDIR)/dist/governor governor.pkr.hcl

# systemd units (systemd-analyze verify, the HAProxy drop-in run for real), the etcd gRPC proxy with governor's
# etcd client, the AMI provisioning scripts run into a scratch root, packer validate. Root, Debian 12.
test-packaging: build dist/governor ami-validate
	node --test --test-concurrency=1 --test-reporter=spec dist/test/packaging

# The AWS stack (cloud/, its own package): synthesizes the CloudFormation template offline and checks it with
# aws-cdk-lib assertions; runs the instances' boot script against a local IMDSv2 stand-in. Needs no AWS account.
.PHONY: test-cloud
test-cloud:
	cd cloud && npm ci --no-audit --no-fund && npm test

clean:
	rm -rf dist cloud/dist cloud/cdk.out
