"""What bookshop's views call: each change in the naive way (load, change in memory, save()) and in
the ways Django teams fix it."""

from django.db import transaction
from django.db.models import F

from bookshop.models import Book, Tag


class StaleBook(Exception):
    """The book changed since it was read: the caller may read it again and retry."""


# --- a field of the book -----------------------------------------------------------------------------


def retitle(book_id: int, title: str) -> None:
    book = Book.objects.get(pk=book_id)
    book.title = title
    book.save()  # writes back every field it loaded: a concurrent change to another is undone


def reblurb(book_id: int, blurb: str) -> None:
    book = Book.objects.get(pk=book_id)
    book.blurb = blurb
    book.save()


def retitle_only(book_id: int, title: str) -> None:
    book = Book.objects.get(pk=book_id)
    book.title = title
    book.save(update_fields=["title"])  # writes the field it changed, nothing else


def reblurb_only(book_id: int, blurb: str) -> None:
    book = Book.objects.get(pk=book_id)
    book.blurb = blurb
    book.save(update_fields=["blurb"])


def retitle_locked(book_id: int, title: str) -> None:
    with transaction.atomic():
        book = Book.objects.select_for_update().get(pk=book_id)
        book.title = title
        book.save()


def reblurb_locked(book_id: int, blurb: str) -> None:
    with transaction.atomic():
        book = Book.objects.select_for_update().get(pk=book_id)
        book.blurb = blurb
        book.save()


def _checked(book_id: int, **change: str) -> None:
    """Save only if nobody saved since the read (the version column), else read again: 5 tries."""
    for _ in range(5):
        book = Book.objects.get(pk=book_id)
        stored = Book.objects.filter(pk=book_id, version=book.version).update(**change, version=F("version") + 1)
        if stored == 1:
            return
    raise StaleBook(f"book {book_id} changed under every one of 5 tries")


def retitle_checked(book_id: int, title: str) -> None:
    _checked(book_id, title=title)


def reblurb_checked(book_id: int, blurb: str) -> None:
    _checked(book_id, blurb=blurb)


# --- a counter, up (a delivery) and down (a sale) -------------------------------------------------------


def adjust_stock(book_id: int, delta: int) -> None:
    book = Book.objects.get(pk=book_id)
    book.stock += delta
    book.save()


def adjust_stock_f(book_id: int, delta: int) -> None:
    Book.objects.filter(pk=book_id).update(stock=F("stock") + delta)  # the database adds


# --- a set of tags -------------------------------------------------------------------------------------


def set_tags(book_id: int, names: set[str]) -> None:
    """Make the book's tags exactly ``names``: tags missing from it are deleted (Nova's metadata shape)."""
    Tag.objects.filter(book_id=book_id).exclude(name__in=names).delete()
    have = set(Tag.objects.filter(book_id=book_id).values_list("name", flat=True))
    Tag.objects.bulk_create([Tag(book_id=book_id, name=n) for n in sorted(names - have)])


def add_tag(book_id: int, name: str) -> None:
    tags = set(Tag.objects.filter(book_id=book_id).values_list("name", flat=True))  # a stale read ...
    set_tags(book_id, tags | {name})  # ... is the target: a tag added meanwhile is deleted


def add_tag_only(book_id: int, name: str) -> None:
    Tag.objects.get_or_create(book_id=book_id, name=name)
