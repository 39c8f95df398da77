"""Small applications with the two seed bugs in their own code, as a team would write them.

Each module holds an application (tables, request functions) and two scenarios over it:
``SCENARIO`` (the code with the bug) and ``FIXED`` (the same requests, fixed). They are what
``race-harness explore`` and the statement-level tests run, named by import path, e.g.
``-s race_harness.examples.glance_orm:SCENARIO``:

- :mod:`.glance_orm`: Glance 1371728 as ORM code: get an image, set one attribute, save the object
  back (``Session.merge`` writes every column it loaded); fixed with a version counter;
- :mod:`.nova_core`: Nova 1650188 as Core code: the metadata update builds its target from a read
  made earlier and deletes the keys missing from it; fixed by writing only the key it adds;
- :mod:`.counter_core`: a page-hit counter read in one transaction and written in the next; fixed
  with ``hits = hits + 1``.
"""
