"""bookshop: a small Django application (a book's title, blurb, stock and tags)."""
