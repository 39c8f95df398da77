"""Loading what a command needs at its end on a thread of its own, while it waits for its database.

A one-schedule replay spends about 130 ms waiting on the server (``CREATE DATABASE``, connecting)
and about 80 ms importing NumPy and the checkers, which it needs only for its verdict. An import
holds the GIL, but a thread waiting on a socket releases it, so the two overlap. The main thread's
own import of the same module waits for the preload to finish it (each module has its own import
lock), so nothing is loaded twice or seen half-made.
"""

from __future__ import annotations

import importlib
import threading


def preload(*modules: str) -> threading.Thread:
    """Start importing ``modules`` in the background; an error is left for the main thread's own
    import of the module to raise where it is needed."""

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # raised again, with its context, by the import that needs the module
                return

    thread = threading.Thread(target=load, name="race-harness-preload", daemon=True)
    thread.start()
    return thread
