"""A Django site the adapter's tests configure: its own database is a SQLite file the tests name."""

import os

SECRET_KEY = "race-harness-tests"
INSTALLED_APPS = ["tests.integration.django_site"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": os.environ.get("DJANGO_SITE_DB", ":memory:")}}
