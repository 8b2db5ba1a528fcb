# switchyard — every entry point a developer or CI needs. `make test` is what .ci/run calls.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin

.PHONY: all deps build lint typecheck unit integration e2e test demo bench bench-instructions sim image clean

all: build

node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund

deps: node_modules/.package-lock.json

build: deps
	$(NODE_BIN)/tsc -p tsconfig.build.json

lint: deps
	$(NODE_BIN)/biome check .

typecheck: deps
	$(NODE_BIN)/tsc -p tsconfig.json --noEmit

unit: build
	$(NODE_BIN)/vitest run --project unit

integration: build
	bash scripts/test-deps.sh
	$(NODE_BIN)/vitest run --project integration

e2e: build
	bash scripts/test-deps.sh
	$(NODE_BIN)/vitest run --project e2e

# The whole suite: lint, typecheck, unit, integration, e2e.
test: lint typecheck build
	bash scripts/test-deps.sh
	$(NODE_BIN)/vitest run

demo: build
	node bin/switchyard.js demo $(ARGS)

bench: build
	bash scripts/bench.sh

bench-instructions: build
	bash scripts/bench.sh instructions

sim: build
	node dist/scripts/sim.js $(ARGS)

image:
	docker build -f deploy/Dockerfile -t switchyard:dev .

clean:
	rm -rf dist coverage .bench .demo .tmp
