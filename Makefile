# The README's commands. Each one sets itself up from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip

# Tests run against the local PostgreSQL and Redis on their standard ports.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/journeys
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_BROKER_URL ?= redis://127.0.0.1:6379/9

.PHONY: run test test-sqlite lint format venv chromium

PORT ?= 8000

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# The embedded default: SQLite and a filesystem broker in var/, no services needed.
run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py embedded --port $(PORT)

# Debian's Chromium, which the admin's browser tests drive through Playwright (its own
# browser download is not used).
chromium:
	@command -v chromium >/dev/null 2>&1 || apt-get install -y -q chromium >/dev/null 2>&1 \
	  || (apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null) \
	  || echo "could not install chromium: the browser tests will say so"

test: venv chromium
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(TEST_BROKER_URL)} \
	$(PY) -m pytest $(PYTEST_ARGS)

# The entry core and the APIs on the embedded default's SQLite (threaded races need
# PostgreSQL and run in `make test`).
SQLITE_SUITES = tests/journeys/test_trigger_single.py tests/journeys/test_trigger_bulk.py \
	tests/journeys/test_entry_rules.py tests/journeys/test_idempotency.py \
	tests/journeys/test_journeys_api.py tests/customers/test_customers_api.py \
	tests/segments/test_segments_api.py tests/test_db_rows.py \
	tests/journeys/test_exit_events.py tests/journeys/test_claims.py \
	tests/journeys/test_trigger_dry_run.py tests/journeys/test_entry_statement.py \
	tests/customers/test_json_input.py tests/test_api_errors.py \
	tests/journeys/test_trigger_each.py tests/journeys/dialects/test_spotzee.py \
	tests/journeys/test_runs_api.py tests/journeys/test_run_cancel_mid_walk.py \
	tests/journeys/dialects/test_courier_invoke.py \
	tests/journeys/dialects/test_enroll.py tests/journeys/dialects/test_sprinklr.py \
	tests/journeys/test_events_api.py tests/journeys/test_event_matching.py \
	tests/customers/test_events_tracking.py tests/journeys/test_wait_for_event.py \
	tests/journeys/test_webhook_trigger.py tests/journeys/test_segment_trigger.py \
	tests/journeys/test_send_windows.py tests/journeys/test_send_window_times.py \
	tests/delivery/test_consent_api.py tests/delivery/test_messaging_controls.py \
	tests/journeys/test_journey_exits.py tests/journeys/test_journey_goals.py

test-sqlite: venv
	env -u REDIS_URL -u CELERY_BROKER_URL DATABASE_URL=sqlite:///$(CURDIR)/var/test-sqlite.sqlite3 \
	$(PY) -m pytest -m "not concurrency" $(SQLITE_SUITES) $(PYTEST_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
