"""shopwiki: a small application with a stock list and a wiki, written knowing nothing of race-harness.

Its tests (``tests/``) find its lost updates with race-harness, on its own tables, calling its own
functions unmodified.
"""
