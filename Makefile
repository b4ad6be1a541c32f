# governor: build, test, and a local demo cluster.
DEMO_DIR ?= /tmp/governor-demo
NODES ?= 3

.PHONY: all deps build test test-unit test-integration demo demo-down clean

all: build

deps:
	./scripts/install-deps.sh

build: deps
	npx tsc -p tsconfig.json

test: build
	node --test --test-concurrency=1 --test-reporter=spec dist/test/unit dist/test/integration

test-unit: build
	node --test --test-reporter=spec dist/test/unit

test-integration: build
	node --test --test-concurrency=1 --test-reporter=spec dist/test/integration

demo: build
	node dist/src/cli/governor.js demo up --dir $(DEMO_DIR) --nodes $(NODES)
	@echo
	@echo "Cluster is up. Try:"
	@echo "  node dist/src/cli/governorctl.js -c $(DEMO_DIR)/node1/governor.yml list"
	@echo "  make demo-down"

demo-down:
	node dist/src/cli/governor.js demo down --dir $(DEMO_DIR)

clean:
	rm -rf dist
