"""bookshop's settings: its own database comes from $BOOKSHOP_DATABASE (a SQLite file by default)."""

import os

SECRET_KEY = "bookshop-example-not-secret"
INSTALLED_APPS = ["bookshop"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BOOKSHOP_DATABASE", "bookshop.sqlite3"),
    }
}
