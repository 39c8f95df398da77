"""Every form a URL carries a password in is masked, and nothing else is touched."""

from __future__ import annotations

import pytest

from race_harness.errors import mask_url

MASKED = {
    "postgresql://rh:hunter2@db:5432/app": "postgresql://rh:***@db:5432/app",
    "postgresql://rhpw:ss:w@rd@127.0.0.1:5432/db": "postgresql://rhpw:***@127.0.0.1:5432/db",
    "mysql://user@corp:hunter2@127.0.0.1/test": "mysql://user@corp:***@127.0.0.1/test",
    "postgresql://rh@db/app?password=hunter2&sslmode=off": "postgresql://rh@db/app?password=***&sslmode=off",
    "mysql://root@db/test?passwd=hunter2": "mysql://root@db/test?passwd=***",
    "postgresql://rh@db/app?sslmode=require&sslpassword=hunter2": "postgresql://rh@db/app?sslmode=require&sslpassword=***",
    "cannot reach 'postgresql://a:b@h/d' nor mysql://c:d@h2/d": "cannot reach 'postgresql://a:***@h/d' nor mysql://c:***@h2/d",
}
UNTOUCHED = ["mysql://root@127.0.0.1:3306/test", "postgresql://postgres@127.0.0.1:5432/postgres", "sqlite", "a:b@c"]


@pytest.mark.parametrize("text", MASKED)
def test_every_password_form_is_masked(text: str) -> None:
    assert mask_url(text) == MASKED[text]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_text_without_a_password_is_left_alone(text: str) -> None:
    assert mask_url(text) == text
