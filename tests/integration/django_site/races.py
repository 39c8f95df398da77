"""The site's race declarations: memos whose naive save() writes back every field it loaded."""

from race_harness import Scenario, operation
from race_harness import django as rh_django

rh_django.setup("tests.integration.django_site.settings")

from tests.integration.django_site.models import Mark, Memo  # noqa: E402 - Django is set up first


def resubject(memo: int, subject: str) -> None:
    m = Memo.objects.get(pk=memo)
    m.subject = subject
    m.save()  # writes back every field it loaded, and stamps edited


def rewrite(memo: int, body: str) -> None:
    m = Memo.objects.get(pk=memo)
    m.body = body
    m.save()


def memos() -> list[object]:
    return [Memo(id=1, subject="s", body="b", score="1.50", flags={"a": 1}), Mark(memo_id=1, label="x")]


def scenario(name: str, alias: str = "default") -> Scenario:
    return Scenario(
        name,
        entity=rh_django.entity(
            Memo,
            keys=[1],
            seed=memos,
            children=rh_django.children(Mark, key="label", where={"deleted": False}),
            tokens=["edited"],
            alias=alias,
        ),
        configure=rh_django.configure(alias),
        operations={
            "resubject": operation(resubject, uses="app", sets="subject"),
            "rewrite": operation(rewrite, uses="app", sets="body"),
        },
        expected={"app": "lost"},
    )


MEMOS = scenario("memos")
