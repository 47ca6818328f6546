"""Settings, read from the environment (12-factor) through django-environ.

With no environment at all the product runs on its embedded default: SQLite in
``var/``, kombu's filesystem broker in ``var/broker`` (shared by separate web, worker
and beat processes on one machine) and a local-memory cache for rate limits. Setting
``DATABASE_URL``, ``REDIS_URL`` and ``CELERY_BROKER_URL`` moves it to PostgreSQL and
Redis without a code change. ``.env.example`` lists every variable.
"""

import os
import secrets
import time
from pathlib import Path

import environ
from kombu import Queue

from delivery.esp import anymail_settings, esp_email_backend

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)


def _generated_secret_key(path: Path) -> str:
    """A random key made once and kept in ``VAR_DIR``, so no install runs on a known key.

    Web, worker and beat may start together: the first to create the file wins and the
    others read what it wrote.
    """
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.01)
        raise
    with os.fdopen(descriptor, "w") as file:
        file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _generated_secret_key(VAR_DIR / "secret_key")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "anymail",
    "django_jsonform",
    "customers",
    "segments",
    "journeys",
    "delivery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share one file: WAL lets readers run beside the writer, the
    # busy timeout waits instead of failing, and IMMEDIATE transactions take the write
    # lock up front so two writers never deadlock upgrading a read lock.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USES_SQLITE = DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"

# --- Cache (rate-limit counters) ------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's backend, keeping its Redis clients (config/cache.py).
            "BACKEND": "config.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="journeys"),
        }
    }
else:
    # Correct only while one web process serves the API, which is what the embedded
    # default runs; any scaled deployment sets REDIS_URL.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    SILENCED_SYSTEM_CHECKS = ["django_ratelimit.E003", "django_ratelimit.W001"]

RATELIMIT_USE_CACHE = "default"
RATELIMIT_DEFAULT_PER_MINUTE = env.int("RATELIMIT_DEFAULT_PER_MINUTE", default=100)
# Trigger calls have a budget of their own per key, apart from the rest of the API.
RATELIMIT_TRIGGER_PER_MINUTE = env.int("RATELIMIT_TRIGGER_PER_MINUTE", default=100)

# --- Celery ---------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "broker" / "queue"
    _processed_dir = VAR_DIR / "broker" / "processed"
    _control_dir = VAR_DIR / "broker" / "control"
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    # kombu's transport, writing each message whole (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:FilesystemTransport"
    # One folder in and out: producers (web, beat) and the worker meet there.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
        # How long an idle worker sleeps between looks at the folder (kombu: 1 s). A
        # worker busy with its one reserved task stops looking until the next poll, so
        # at 1 s it takes about one message a second: a trigger's first step would wait
        # behind beat's sweeps for seconds.
        "polling_interval": 0.1,
    }
# Queues, served by a worker in this order on Redis (which pops them by priority, not in
# turns; the embedded default's filesystem broker takes them in turns): a trigger's first
# steps and the sweep, then everything else, then the batches of due runs that a
# campaign's burst queues (journeys.engine.dispatch). `celery -A config worker -Q runs.now`
# runs a worker that serves triggers alone.
CELERY_TASK_QUEUES = [Queue(name, routing_key=name) for name in ("runs.now", "celery", "runs.due")]
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_ROUTES = {
    "journeys.tasks.runs_advance": {"queue": "runs.now"},
    "journeys.tasks.runs_sweep": {"queue": "runs.now"},
    "journeys.tasks.runs_pull": {"queue": "runs.due"},
    # Matching tracked events starts runs: it goes with the triggers.
    "journeys.tasks.events_match": {"queue": "runs.now"},
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # kombu's transport, keeping the client it publishes with (config/broker.py).
    CELERY_BROKER_TRANSPORT = "config.broker:RedisTransport"
    CELERY_BROKER_TRANSPORT_OPTIONS = {"queue_order_strategy": "priority"}
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message reserved per pool process: a backlog stays in the broker, where any free
# worker can take it. The filesystem broker is the exception: its worker (no event loop
# for it) sleeps a polling interval whenever its reserved messages are full, so with one
# reserved it took in ten messages a second however short they were, and at 50 triggers
# a second its queue grew without end. Reserving up to 32 lets it take in what arrived
# during one sleep at once. (A reserved message a killed worker loses is harmless: runs
# live in the database and the sweep finds any that are due.)
CELERY_WORKER_PREFETCH_MULTIPLIER = 32 if CELERY_BROKER_URL.startswith("filesystem://") else 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
RUN_LEASE_SECONDS = env.int("RUN_LEASE_SECONDS", default=60)
CELERY_BEAT_SCHEDULE = {
    # Due runs are found by this sweep (durable timers); see journeys.engine.dispatch.
    # A sweep still queued when the next ones are due is dropped: they do its work. (Not
    # sooner: the expiry is beat's clock read by a worker's, which may run ahead.)
    "runs-sweep": {
        "task": "journeys.tasks.runs_sweep",
        "schedule": 1.0,
        "options": {"expires": 10.0},
    },
    # Tracked events waiting to be matched (journeys.entry.events.matching): each
    # request kicks a match after its commit; this finds what a lost kick left.
    "events-match": {
        "task": "journeys.tasks.events_match",
        "schedule": 5.0,
        "options": {"expires": 10.0},
    },
    # Segment triggers on dynamic segments: a check follows every customer change; this
    # catches what a lost check missed (journeys.entry.segment_entries).
    "segment-presence-sweep": {
        "task": "journeys.tasks.segment_presence_sweep",
        "schedule": 60.0,
        "options": {"expires": 50.0},
    },
    "idempotency-records-purge": {
        "task": "journeys.tasks.idempotency_records_purge",
        "schedule": 3600.0,
    },
    # Durable webhook retries: due deliveries live in PostgreSQL, this finds them. A
    # sweep still queued after the next one is due is redundant, hence the expiry.
    "webhook-deliveries-sweep": {
        "task": "delivery.tasks.webhook_deliveries_sweep",
        "schedule": 5.0,
        "options": {"expires": 10.0},
    },
}

# --- E-mail ---------------------------------------------------------------------------
# EMAIL_URL: smtp://..., consolemail://, or an e-mail service provider through
# django-anymail, by its scheme alone (postmark://, amazonses://...: delivery/esp.py),
# configured by ANYMAIL_* variables. Their tracking webhooks are mounted under /esp/.
_email_url = env.str("EMAIL_URL", default="consolemail://")
_esp_backend = esp_email_backend(_email_url)
if _esp_backend is not None:
    EMAIL_BACKEND = _esp_backend
else:
    vars().update(env.email_url_config(_email_url))
if EMAIL_BACKEND == "django.core.mail.backends.console.EmailBackend":
    # Logged by the worker as text, not printed as MIME (delivery/console_email.py).
    EMAIL_BACKEND = "delivery.console_email.ReadableConsoleBackend"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="journeys@localhost")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# ANYMAIL_<NAME>=value becomes ANYMAIL["<NAME>"]; an ESP's API calls time out as SMTP does.
ANYMAIL = {"REQUESTS_TIMEOUT": EMAIL_TIMEOUT, **anymail_settings(os.environ)}

# --- SMS and WhatsApp -----------------------------------------------------------------
# "console" logs messages (the embedded default, no account needed); "twilio" sends them.
SMS_PROVIDER = env.str("SMS_PROVIDER", default="console")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
TWILIO_FROM_NUMBER = env.str("TWILIO_FROM_NUMBER", default="")
TWILIO_WHATSAPP_FROM = env.str("TWILIO_WHATSAPP_FROM", default="")
TWILIO_MESSAGING_SERVICE_SID = env.str("TWILIO_MESSAGING_SERVICE_SID", default="")
TWILIO_BASE_URL = env.str("TWILIO_BASE_URL", default="https://api.twilio.com")
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=10.0)
# --- end SMS and WhatsApp -------------------------------------------------------------

# --- Outbound HTTP --------------------------------------------------------------------
OUTBOUND_ALLOWED_NETWORKS = env.list("OUTBOUND_ALLOWED_NETWORKS", default=[])

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["customers.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["customers.ratelimit.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSON parser, refusing what PostgreSQL or Python cannot hold (customers/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["customers.parsers.StrictJSONParser"],
    "EXCEPTION_HANDLER": "customers.errors.api_exception_handler",
    # drf-spectacular's, documenting DELETE bodies too (customers/openapi.py).
    "DEFAULT_SCHEMA_CLASS": "customers.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Journey engine API",
    "DESCRIPTION": (
        "Trigger customer journeys, manage customers, segments, journeys and runs.\n\n"
        "Every error is JSON, the `Error` schema: `error` names the field or limit, "
        "`problems` lists a body's problems (a body that is not JSON, a journey "
        "definition), `fields` a request's problems by field. Beside what each schema "
        "states, a JSON body is refused (400) when it holds a NUL character (`\\u0000`) "
        "or a lone surrogate in any string or key, a number too large for a float "
        "(`1e999`), or nesting deeper than 64 levels; a string field refuses numbers."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "customers.openapi.handwritten_schemas",
        "customers.openapi.standard_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "CustomerStatusEnum": "customers.models.Customer.Status",
        "JourneyStatusEnum": "journeys.models.Journey.Status",
        "SpotzeeJourneyStatusEnum": "journeys.entry.dialects.spotzee.api.STATUSES",
        "SpotzeeUserErrorCodeEnum": "journeys.entry.dialects.spotzee.api.ERROR_CODES",
    },
}
IDEMPOTENCY_TTL_SECONDS = 24 * 3600

# --- Static files, i18n ---------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)  # WhiteNoise warns on every request without it
WHITENOISE_USE_FINDERS = True
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Links in messages ------------------------------------------------------------------
# Where customers reach this server: unsubscribe links (List-Unsubscribe, RFC 8058) are
# built on it. In production an https:// address the public can reach.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # An oversized body is logged by config.errors as one line, not as an error with a
    # traceback.
    "loggers": {"django.security.RequestDataTooBig": {"level": "CRITICAL"}},
}
