"""bookshop's race declarations: each way of changing a book, as its views call it."""

from race_harness import Scenario, operation
from race_harness import django as rh_django

rh_django.setup("bookshop.settings")

from bookshop import store  # noqa: E402 - Django is set up first
from bookshop.models import Book, Tag  # noqa: E402


def _books() -> list[Book]:
    return [Book(id=1, title="Dune", blurb="sand", stock=10), Tag(book_id=1, name="scifi")]


BOOKS = rh_django.entity(Book, keys=[1], seed=_books, children=rh_django.children(Tag, key="name"), tokens=["version"])
DATABASE = rh_django.configure()  # DATABASES["default"] follows the scratch database


def _fields(name: str, title: object, blurb: object, expected: str = "none") -> Scenario:
    refused = [store.StaleBook]  # the checked save gave up after its tries: the request failed, nothing written
    return Scenario(
        name,
        expected={"app": expected},
        entity=BOOKS,
        configure=DATABASE,
        operations={
            "retitle": operation(title, uses="app", sets="title", conflicts=refused),
            "reblurb": operation(blurb, uses="app", sets="blurb", conflicts=refused),
        },
    )


SAVE = _fields("book_save", store.retitle, store.reblurb, "lost")
UPDATE_FIELDS = _fields("book_update_fields", store.retitle_only, store.reblurb_only)
LOCKED = _fields("book_select_for_update", store.retitle_locked, store.reblurb_locked)
CHECKED = _fields("book_version_checked", store.retitle_checked, store.reblurb_checked)


def _stock(name: str, adjust: object, expected: str = "none") -> Scenario:
    return Scenario(
        name,
        expected={"app": expected},
        entity=BOOKS,
        configure=DATABASE,
        operations={
            "receive": operation(
                adjust, uses="app", increments={"stock": "delta"}, values={"delta": 3}, name="receive"
            ),
            "sell": operation(adjust, uses="app", increments={"stock": "delta"}, values={"delta": -2}, name="sell"),
        },
    )


STOCK = _stock("book_stock", store.adjust_stock, "lost")
STOCK_F = _stock("book_stock_f", store.adjust_stock_f)


def _tags(name: str, add: object, expected: str = "none") -> Scenario:
    return Scenario(
        name,
        expected={"app": expected},
        entity=BOOKS,
        configure=DATABASE,
        operations={"tag": operation(add, uses="app", adds_child="name")},
    )


TAGS = _tags("book_tags", store.add_tag, "lost")
TAGS_ADDED = _tags("book_tags_added", store.add_tag_only)

NAIVE = [SAVE, STOCK, TAGS]
FIXED = [UPDATE_FIELDS, LOCKED, CHECKED, STOCK_F, TAGS_ADDED]
