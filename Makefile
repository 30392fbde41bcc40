# Two entry points that work on a fresh machine with only Python and make:
#   make demo   set up, then run the main job on the embedded default (SQLite, file outbox)
#   make test   set up, then run the tests (lint, format, import contract, pytest)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: setup demo run test lint format bench clean vendor screenshots

$(BIN)/alongside: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/alongside

demo: setup
	$(BIN)/alongside demo

run: setup
	$(BIN)/alongside run

test: lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

# The web app's front-end assets, vendored from npm at pinned versions (needs node and npm):
# GOV.UK Frontend's components compiled with our settings (web/assets/govuk.scss), its JS,
# and htmx. The built files are committed; run this only to change a version.
GOVUK_FRONTEND_VERSION := 6.6.0
HTMX_VERSION := 2.0.11
SASS_VERSION := 1.97.3
MERMAID_VERSION := 12.3.0
VENDOR := web/static/vendor

vendor:
	rm -rf .vendor-build && mkdir -p .vendor-build $(VENDOR)
	cd .vendor-build && npm install --silent --no-audit --no-fund --ignore-scripts \
		govuk-frontend@$(GOVUK_FRONTEND_VERSION) htmx.org@$(HTMX_VERSION) sass@$(SASS_VERSION) \
		mermaid@$(MERMAID_VERSION)
	.vendor-build/node_modules/.bin/sass --load-path=.vendor-build/node_modules \
		--style=compressed --no-source-map web/assets/govuk.scss $(VENDOR)/govuk-frontend.min.css
	sed 's|//# sourceMappingURL=.*||' .vendor-build/node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js \
		> $(VENDOR)/govuk-frontend.min.js
	cp .vendor-build/node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	sed 's|//# sourceMappingURL=.*||' .vendor-build/node_modules/mermaid/dist/mermaid.min.js \
		> $(VENDOR)/mermaid.min.js
	printf 'govuk-frontend %s\nhtmx.org %s\nsass %s\nmermaid %s\n' $(GOVUK_FRONTEND_VERSION) \
		$(HTMX_VERSION) $(SASS_VERSION) $(MERMAID_VERSION) > $(VENDOR)/VERSIONS
	rm -rf .vendor-build

# The screenshots in docs/navigators.md and docs/team-leads.md, taken by the browser tests.
screenshots: setup
	ALONGSIDE_SCREENSHOTS=docs/images $(BIN)/pytest tests/web/test_browser.py -q

lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .alongside
