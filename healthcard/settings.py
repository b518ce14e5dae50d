"""Settings for the electronic health card platform.

Everything that differs between a laptop and production comes from the environment,
read through the small typed helpers below, which fail loudly on bad values. The
defaults run on one machine with nothing else installed (SQLite, a file-system Celery
broker, PDF printing). docs/configuration.md lists every variable.
"""

import base64
import binascii
import datetime
import os
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from printing import targets as printer_targets

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(name: str, default: list[str]) -> list[str]:
    """Comma-separated IP networks in CIDR notation (10.0.0.0/8, fd00::/8)."""
    import ipaddress

    networks = env_list(name, default)
    for item in networks:
        try:
            ipaddress.ip_network(item)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name}: {item!r} is not an IP network: {exc}") from None
    return networks


def env_paths(name: str, default: list[str]) -> list[str]:
    """Comma-separated absolute path patterns (`*` within a folder, `**` across folders)."""
    patterns = env_list(name, default)
    for item in patterns:
        if not item.startswith("/") or "/../" in f"{item}/":
            raise ImproperlyConfigured(f"{name}: {item!r} must be an absolute path without '..'")
    return patterns


def env_key(name: str) -> bytes | None:
    """A base64-encoded 32-byte key, or None when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(
            f"{name} must be base64 (32 bytes), e.g. `openssl rand -base64 32`"
        ) from None
    if len(key) != 32:
        raise ImproperlyConfigured(f"{name} must decode to exactly 32 bytes, got {len(key)}")
    return key


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
# Key-encryption key: wraps every private/secret key and derives the personal-data keys.
HEALTHCARD_KEK = env_key("HEALTHCARD_KEK")
# The KEK being replaced, during a rotation's rolling deploy only (docs/keys.md).
HEALTHCARD_KEK_PREVIOUS = env_key("HEALTHCARD_KEK_PREVIOUS")
if HEALTHCARD_KEK_PREVIOUS is not None and HEALTHCARD_KEK_PREVIOUS == HEALTHCARD_KEK:
    raise ImproperlyConfigured("HEALTHCARD_KEK_PREVIOUS must differ from HEALTHCARD_KEK")

if not DEBUG:
    if len(SECRET_KEY) < 32 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "SECRET_KEY is missing or too short (need 32+ random characters). "
            "Set it in the environment, or set DEBUG=1 on a development machine."
        )
    if HEALTHCARD_KEK is None:
        raise ImproperlyConfigured(
            "HEALTHCARD_KEK is missing: set it to 32 random bytes in base64 "
            "(`openssl rand -base64 32`) and keep it outside the database. "
            "Or set DEBUG=1 on a development machine."
        )
elif not SECRET_KEY or HEALTHCARD_KEK is None:
    raise ImproperlyConfigured(
        "SECRET_KEY and HEALTHCARD_KEK must be set even with DEBUG=1; `./dev run` "
        "creates them in var/dev-secrets.env."
    )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "healthcard.apps.HealthcardAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI / Redoc assets served locally, no CDN
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "healthcard",
    "oauth2_provider",
    "healthcard.oidc",
    "portal",
    "printing",
]

# The browser-only middleware are healthcard.middleware's subclasses of Django's and
# django-otp's, which the terminal API (/api/) skips: it has no session, CSRF cookie,
# signed-in user or flash message (docs/api.md).
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "healthcard.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "healthcard.middleware.CsrfViewMiddleware",
    "healthcard.middleware.AuthenticationMiddleware",
    "healthcard.middleware.OTPMiddleware",
    "healthcard.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "healthcard.api.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "healthcard.urls"
WSGI_APPLICATION = "healthcard.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

VAR_DIR = Path(env_str("HEALTHCARD_VAR_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # Several processes (web, print worker) share the file on a laptop.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHE_URL = env_str("CACHE_URL")
if CACHE_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Rate-limit counts and version tokens: small, and never worth waiting for.
            # An unreachable Redis fails fast and the API goes on without it
            # (healthcard.api.throttling, healthcard.versioned).
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

LOGIN_URL = "admin:login"

SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("SECURE_PROXY_SSL", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Request bodies above this are refused before parsing (API batches stay far below it).
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "UNAUTHENTICATED_USER": None,
    # Per terminal and per client IP (healthcard.api.throttling), counted in CACHES.
    "DEFAULT_THROTTLE_RATES": {
        "terminal": env_str("HEALTHCARD_API_RATE_TERMINAL", "6000/min"),
        "ip": env_str("HEALTHCARD_API_RATE_IP", "12000/min"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Hunan electronic health card API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Celery ---------------------------------------------------------------------------
# Without a broker server the file-system transport queues between processes on one
# machine; CELERY_BROKER_URL=redis://... switches to Redis.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
if CELERY_BROKER_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Longer than the longest print retry chain, so Redis never redelivers a job
        # that a worker is still retrying.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3 * 3600),
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "out"),
        "data_folder_out": str(_broker_dir / "out"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_IGNORE_RESULT = True
# Task modules beyond the apps' tasks.py (which autodiscovery finds by itself).
CELERY_IMPORTS = ["printing.sweep"]

# Statistics roll-ups, sent by `celery -A healthcard beat` and run by a worker on the
# `statistics` queue (docs/operations.md): today's and yesterday's every
# HEALTHCARD_STATISTICS_REFRESH_MINUTES; nightly at 02:30 China time, every day an
# offline upload can still change (90 days, healthcard.usage.MAX_OFFLINE_AGE).
HEALTHCARD_STATISTICS_REFRESH_MINUTES = env_int(
    "HEALTHCARD_STATISTICS_REFRESH_MINUTES", 10, minimum=1
)
CELERY_TIMEZONE = TIME_ZONE
# The platform's periodic work (statistics, usage-event partitions, the print sweep) runs
# on the `statistics` queue, which every platform worker consumes (docs/operations.md).
CELERY_TASK_ROUTES = {
    "healthcard.tasks.*": {"queue": "statistics"},
    "printing.sweep.*": {"queue": "statistics"},
}
# `celery -A healthcard beat` sends these (docs/operations.md).
CELERY_BEAT_SCHEDULE = {
    "usage-partitions": {
        "task": "healthcard.tasks.maintain_usage_partitions",
        "schedule": 6 * 3600,
    },
    "refresh-statistics": {
        "task": "healthcard.tasks.refresh_statistics",
        "schedule": HEALTHCARD_STATISTICS_REFRESH_MINUTES * 60.0,
        "options": {"expires": HEALTHCARD_STATISTICS_REFRESH_MINUTES * 60},
    },
    "rebuild-late-statistics": {
        "task": "healthcard.tasks.rebuild_late_statistics",
        "schedule": crontab(hour=2, minute=30),
    },
}

# --- Platform -------------------------------------------------------------------------
# Organisation code of this card-management platform (national dynamic-code ORGCODE).
HEALTHCARD_ORG_CODE = env_str("HEALTHCARD_ORG_CODE", "4300A0001")
HEALTHCARD_DYNAMIC_CODE_SECONDS = env_int("HEALTHCARD_DYNAMIC_CODE_SECONDS", 60, minimum=10)
HEALTHCARD_SIGNING_ALGORITHM = env_str("HEALTHCARD_SIGNING_ALGORITHM", "ed25519")
# How many independent hash chains the audit log keeps (see docs/audit.md).
HEALTHCARD_AUDIT_PARTITIONS = env_int("HEALTHCARD_AUDIT_PARTITIONS", 16, minimum=1)
# How long printed static codes signed by a retired signing key keep verifying
# (docs/keys.md): printed cards outlive key rotations.
HEALTHCARD_RETIRED_SIGNING_KEY_DAYS = env_int(
    "HEALTHCARD_RETIRED_SIGNING_KEY_DAYS", 5 * 365, minimum=1
)
# Usage events (PostgreSQL: one partition per month, docs/data-model.md): months kept
# in the database, partitions created ahead, and where older months are exported.
# healthcard.sql prepares the verification path's statements once per connection
# (psycopg, protocol level); off behind a pooler that cannot keep them (docs/operations.md).
HEALTHCARD_DB_PREPARED_STATEMENTS = env_bool("HEALTHCARD_DB_PREPARED_STATEMENTS", True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # psycopg prepares nothing while prepare_threshold is None (Django's default).
    # healthcard.sql's cursor asks for each of its statements explicitly, so the number
    # itself does not matter there; Django's own client-side cursors never prepare.
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
        5 if HEALTHCARD_DB_PREPARED_STATEMENTS else None
    )
HEALTHCARD_USAGE_RETENTION_MONTHS = env_int("HEALTHCARD_USAGE_RETENTION_MONTHS", 36, minimum=4)
HEALTHCARD_USAGE_PARTITIONS_AHEAD = env_int("HEALTHCARD_USAGE_PARTITIONS_AHEAD", 3, minimum=1)
HEALTHCARD_USAGE_ARCHIVE_DIR = Path(
    env_str("HEALTHCARD_USAGE_ARCHIVE_DIR", str(VAR_DIR / "usage-archive"))
)

# Error pages, error e-mails and log lines never show a secret: names matching
# KEK/KEY/SECRET/PASS/TOKEN/CREDENTIAL... are hidden, URL passwords and the values of
# secret settings and environment variables blanked wherever they appear
# (healthcard/reporting.py, docs/configuration.md).
DEFAULT_EXCEPTION_REPORTER_FILTER = "healthcard.reporting.SecretsFilter"
DEFAULT_EXCEPTION_REPORTER = "healthcard.reporting.SecretsReporter"
# How long a process keeps using the active data key it looked up (healthcard.datakeys):
# a new data key reaches every process within this time.
HEALTHCARD_DATA_KEY_CACHE_SECONDS = env_int("HEALTHCARD_DATA_KEY_CACHE_SECONDS", 60, minimum=0)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "class": "healthcard.reporting.SecretsFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "filters": {
        "require_debug_false": {"()": "django.utils.log.RequireDebugFalse"},
        # The API's 503 while the database is down (healthcard.api.unavailable) is
        # logged as a warning once per request: no e-mail per request of an outage.
        "not_503": {
            "()": "django.utils.log.CallbackFilter",
            "callback": lambda record: getattr(record, "status_code", None) != 503,
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
        "mail_admins": {
            "class": "django.utils.log.AdminEmailHandler",
            "level": "ERROR",
            "filters": ["require_debug_false", "not_503"],
        },
    },
    # Django's default "django" logger would also print to its own console handler
    # (with DEBUG), unscrubbed; its records reach ours through the root instead.
    "loggers": {
        "django": {"handlers": ["mail_admins"], "level": "INFO"},
        # django-axes logs every sign-in's counter reset at INFO (with the user name):
        # only its warnings (lockouts) reach the log.
        "axes": {"level": "WARNING"},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

# --- Printing (docs/printing.md) --------------------------------------------------------
# CJK fonts to draw slips with, first choice first: comma-separated paths, `#n` picks a
# face of a .ttc collection. Empty: Noto Sans CJK SC, WenQuanYi Zen Hei, Hanazono.
HEALTHCARD_CJK_FONT = env_list("HEALTHCARD_CJK_FONT", [])
# Seconds to wait for a network printer to accept a connection or data.
HEALTHCARD_PRINT_TIMEOUT = env_int("HEALTHCARD_PRINT_TIMEOUT", 10)
# A printer that cannot be reached is retried this many times, after 10, 20, 40 ... s
# (capped at HEALTHCARD_PRINT_RETRY_MAX_DELAY), before the job fails.
HEALTHCARD_PRINT_MAX_RETRIES = env_int("HEALTHCARD_PRINT_MAX_RETRIES", 5)
HEALTHCARD_PRINT_RETRY_DELAY = env_int("HEALTHCARD_PRINT_RETRY_DELAY", 10)
HEALTHCARD_PRINT_RETRY_MAX_DELAY = env_int("HEALTHCARD_PRINT_RETRY_MAX_DELAY", 600)
# Where printers may point (docs/printing.md, "Where a printer may point"): device
# files of escpos-file/escpos-serial printers must match one of these patterns, and
# network printers must be inside one of these networks. Loopback, link-local,
# multicast and other special addresses are refused even inside a listed network,
# unless a listed network lies wholly inside such a range (127.0.0.1/32 for a printer
# emulator on a development machine). Checked when a printer is saved and again
# before every job is sent.
HEALTHCARD_PRINTER_DEVICES = env_paths(
    "HEALTHCARD_PRINTER_DEVICES", printer_targets.DEFAULT_DEVICES
)
HEALTHCARD_PRINTER_NETWORKS = env_networks(
    "HEALTHCARD_PRINTER_NETWORKS", printer_targets.DEFAULT_NETWORKS
)
# `local`: the worker that prints holds the database and sends to the printer itself
# (one machine). `site`: platform workers render and sign, site workers without
# secrets print (docs/printing.md, docs/operations.md).
HEALTHCARD_PRINT_DELIVERY = env_str("HEALTHCARD_PRINT_DELIVERY", "local")
if HEALTHCARD_PRINT_DELIVERY not in ("local", "site"):
    raise ImproperlyConfigured(
        f"HEALTHCARD_PRINT_DELIVERY must be local or site, got {HEALTHCARD_PRINT_DELIVERY!r}"
    )
HEALTHCARD_PRINT_PLATFORM_QUEUE = env_str("HEALTHCARD_PRINT_PLATFORM_QUEUE", "platform.print")
HEALTHCARD_PRINT_REPORT_QUEUE = env_str("HEALTHCARD_PRINT_REPORT_QUEUE", "platform.print-reports")
# Seconds a site may still print a delivery after the platform made it.
HEALTHCARD_PRINT_DELIVERY_TTL = env_int("HEALTHCARD_PRINT_DELIVERY_TTL", 900, minimum=60)
# RabbitMQ user names of the print sites: prefix + institution code.
HEALTHCARD_PRINT_SITE_USER_PREFIX = env_str("HEALTHCARD_PRINT_SITE_USER_PREFIX", "print-site-")
# The queue a worker listens on when no institution has a printer yet.
# Queued print jobs older than this are sent to their queue again (printing/sweep.py).
HEALTHCARD_PRINT_SWEEP_SECONDS = env_int("HEALTHCARD_PRINT_SWEEP_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE["print-sweep"] = {
    "task": "printing.sweep.sweep_queued_print_jobs",
    "schedule": HEALTHCARD_PRINT_SWEEP_SECONDS,
}
HEALTHCARD_PRINT_DEFAULT_QUEUE = env_str("HEALTHCARD_PRINT_DEFAULT_QUEUE", "print.default")

# --- Resident portal (docs/portal.md) -----------------------------------------------------
# SMS: "console" (server log + the DEBUG-only outbox page /dev/outbox/), "outbox" (the
# table only: tests), "http" (the province's SMS gateway).
HEALTHCARD_SMS_BACKEND = env_str("HEALTHCARD_SMS_BACKEND", "console")
if HEALTHCARD_SMS_BACKEND not in {"console", "outbox", "http"}:
    raise ImproperlyConfigured("HEALTHCARD_SMS_BACKEND must be console, outbox or http")
HEALTHCARD_SMS_URL = env_str("HEALTHCARD_SMS_URL")
HEALTHCARD_SMS_TOKEN = env_str("HEALTHCARD_SMS_TOKEN")
HEALTHCARD_SMS_SIGN = env_str("HEALTHCARD_SMS_SIGN", "湖南电子健康卡")
HEALTHCARD_SMS_TIMEOUT = env_int("HEALTHCARD_SMS_TIMEOUT", 5, minimum=1)
HEALTHCARD_SMS_RETRIES = env_int("HEALTHCARD_SMS_RETRIES", 2, minimum=0)
if HEALTHCARD_SMS_BACKEND == "http" and not HEALTHCARD_SMS_URL:
    raise ImproperlyConfigured("HEALTHCARD_SMS_BACKEND=http needs HEALTHCARD_SMS_URL")
# Accepted sends allowed per phone number and per client IP address.
HEALTHCARD_SMS_PHONE_PER_HOUR = env_int("HEALTHCARD_SMS_PHONE_PER_HOUR", 5, minimum=1)
HEALTHCARD_SMS_PHONE_PER_DAY = env_int("HEALTHCARD_SMS_PHONE_PER_DAY", 10, minimum=1)
HEALTHCARD_SMS_IP_PER_HOUR = env_int("HEALTHCARD_SMS_IP_PER_HOUR", 30, minimum=1)
HEALTHCARD_SMS_IP_PER_DAY = env_int("HEALTHCARD_SMS_IP_PER_DAY", 100, minimum=1)
# Sign-in codes: lifetime and resend cooldown (seconds); wrong codes lock the number for
# FACTOR * 2^(failures-1) seconds.
HEALTHCARD_OTP_VALID_SECONDS = env_int("HEALTHCARD_OTP_VALID_SECONDS", 300, minimum=30)
HEALTHCARD_OTP_COOLDOWN_SECONDS = env_int("HEALTHCARD_OTP_COOLDOWN_SECONDS", 60, minimum=0)
HEALTHCARD_OTP_THROTTLE_FACTOR = env_int("HEALTHCARD_OTP_THROTTLE_FACTOR", 2, minimum=0)
# Real-name verification: "local" (the population register table) or "http".
HEALTHCARD_REALNAME_VERIFIER = env_str("HEALTHCARD_REALNAME_VERIFIER", "local")
if HEALTHCARD_REALNAME_VERIFIER not in {"local", "http"}:
    raise ImproperlyConfigured("HEALTHCARD_REALNAME_VERIFIER must be local or http")
HEALTHCARD_REALNAME_URL = env_str("HEALTHCARD_REALNAME_URL")
HEALTHCARD_REALNAME_TOKEN = env_str("HEALTHCARD_REALNAME_TOKEN")
HEALTHCARD_REALNAME_TIMEOUT = env_int("HEALTHCARD_REALNAME_TIMEOUT", 5, minimum=1)
if HEALTHCARD_REALNAME_VERIFIER == "http" and not HEALTHCARD_REALNAME_URL:
    raise ImproperlyConfigured("HEALTHCARD_REALNAME_VERIFIER=http needs HEALTHCARD_REALNAME_URL")
# Institution code that online cards are issued by; empty: the top health authority.
HEALTHCARD_ONLINE_INSTITUTION = env_str("HEALTHCARD_ONLINE_INSTITUTION")
# Sign-out after this many minutes without a request.
HEALTHCARD_SESSION_MINUTES = env_int("HEALTHCARD_SESSION_MINUTES", 30, minimum=1)
SESSION_COOKIE_AGE = HEALTHCARD_SESSION_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = True  # the age counts from the last request: inactivity
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy (django-csp): no inline scripts anywhere, style sheets only
# from this site (style="" attributes stay allowed: the admin's templates use a few);
# the API's Swagger/Redoc pages (drf-spectacular's templates use inline scripts) are
# exempt. healthcard.csp is django-csp's middleware with the settings' header built once.
INSTALLED_APPS.append("csp")
MIDDLEWARE.insert(1, "healthcard.csp.CSPMiddleware")
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/api/docs", "/api/redoc", "/api/schema"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    },
}
TEMPLATES[0]["OPTIONS"]["context_processors"].append("portal.resident.context.portal")
# --- Staff sign-in and the counter console (docs/console.md) -----------------------------
# One sign-in for the admin and the console (healthcard.staffauth): password + TOTP.
# django-axes counts failed sign-ins per user name and, separately, per client IP; either
# count reaching the limit locks that name or that address out for the cool-off time.
INSTALLED_APPS += ["axes"]
AXES_FAILURE_LIMIT = env_int("HEALTHCARD_SIGNIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = datetime.timedelta(
    minutes=env_int("HEALTHCARD_SIGNIN_LOCKOUT_MINUTES", 15, minimum=1)
)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token"]
AXES_VERBOSE = False  # its start-up and reset lines would fill every process log
# The client address that the staff lockout (axes), the API's per-IP rate limit and
# the audit log take (healthcard.clientip): REMOTE_ADDR, unless the site sits behind
# this many reverse proxies appending to X-Forwarded-For (never trust the header
# without a proxy: anyone can send it).
HEALTHCARD_TRUSTED_PROXIES = env_int("HEALTHCARD_TRUSTED_PROXIES", 0, minimum=0)
AXES_CLIENT_IP_CALLABLE = "healthcard.clientip.client_ip"
# No AxesMiddleware: it would answer a lockout with its own page and status, telling a
# locked account from a wrong password; staffauth shows one message for every failure.
# No axes backend either: healthcard.staffauth asks axes before checking the password,
# and Django's single default backend keeps login(request, user) working everywhere.
SILENCED_SYSTEM_CHECKS = ["axes.W002", "axes.W003"]
# The name authenticator apps show next to the code.
OTP_TOTP_ISSUER = env_str("HEALTHCARD_TOTP_ISSUER", "湖南电子健康卡")

# --- Unified sign-in: OpenID Connect provider (docs/signin.md) --------------------------
# Lifetimes in seconds. A refresh token dies HEALTHCARD_OIDC_REFRESH_SECONDS after its
# access token expires; every use rotates it, and a reused one revokes its family.
HEALTHCARD_OIDC_CODE_SECONDS = env_int("HEALTHCARD_OIDC_CODE_SECONDS", 60, minimum=10)
HEALTHCARD_OIDC_ACCESS_SECONDS = env_int("HEALTHCARD_OIDC_ACCESS_SECONDS", 600, minimum=60)
HEALTHCARD_OIDC_ID_TOKEN_SECONDS = env_int("HEALTHCARD_OIDC_ID_TOKEN_SECONDS", 600, minimum=60)
HEALTHCARD_OIDC_REFRESH_SECONDS = env_int(
    "HEALTHCARD_OIDC_REFRESH_SECONDS", 30 * 24 * 3600, minimum=300
)
# The issuer URL as clients see it (https://ehc.example.gov.cn); empty: from the request.
HEALTHCARD_OIDC_ISSUER = env_str("HEALTHCARD_OIDC_ISSUER")
# The library's own models (named so that migrations resolve their swappable links).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 (a model name)
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105 (a model name)
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105 (a model name)
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
OAUTH2_PROVIDER = {
    "OIDC_ENABLED": True,
    "OIDC_ISS_ENDPOINT": HEALTHCARD_OIDC_ISSUER,
    "OAUTH2_VALIDATOR_CLASS": "healthcard.oidc.validator.Validator",
    "SCOPES_BACKEND_CLASS": "healthcard.oidc.validator.ClientScopes",
    "SCOPES": {
        "openid": "OpenID Connect",
        "ehc": "EHC ID",
        "profile": "Verified name, sex, birth date",
        "phone": "Phone number",
        "identity": "ID type and number",
    },
    "DEFAULT_SCOPES": ["openid"],
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "AUTHORIZATION_CODE_EXPIRE_SECONDS": HEALTHCARD_OIDC_CODE_SECONDS,
    "ACCESS_TOKEN_EXPIRE_SECONDS": HEALTHCARD_OIDC_ACCESS_SECONDS,
    "ID_TOKEN_EXPIRE_SECONDS": HEALTHCARD_OIDC_ID_TOKEN_SECONDS,
    "REFRESH_TOKEN_EXPIRE_SECONDS": HEALTHCARD_OIDC_REFRESH_SECONDS,
    "ROTATE_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    "REFRESH_TOKEN_GRACE_PERIOD_SECONDS": 0,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["http", "https"] if DEBUG else ["https"],
    "OIDC_SUBJECT_TYPES_SUPPORTED": ["pairwise"],
    "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
    "OIDC_RP_INITIATED_LOGOUT_ENABLED": True,
    "OIDC_RP_INITIATED_LOGOUT_ALWAYS_PROMPT": False,
    "OIDC_RP_INITIATED_LOGOUT_STRICT_REDIRECT_URIS": True,
    "OIDC_RP_INITIATED_LOGOUT_DELETE_TOKENS": True,
    "REQUEST_APPROVAL_PROMPT": "force",
}
