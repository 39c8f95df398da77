"""The peer's side of ``python -m benchmarks explore``: the same application code under frontrun 0.7.0.

Run by the benchmark as ``frontrun python frontrun_peer.py RACE URL`` in a virtualenv of its own
(frontrun is not a dependency of race-harness); prints one JSON line: found, explored, seconds
(from this process's start, as race-harness's figure is from its own). Not imported by anything.
"""

# ruff: noqa
# mypy: ignore-errors
import json
import sys
import time

T0 = time.monotonic()
import frontrun
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from race_harness.examples import counter_core, glance_orm, nova_core

race, url = sys.argv[1], sys.argv[2]
engine = create_engine(url, poolclass=__import__("sqlalchemy.pool", fromlist=["NullPool"]).NullPool)

if race == "counter":
    md, seed = counter_core.METADATA, counter_core._seed
    workers = [lambda s: _conn(lambda c: counter_core.hit(c, 1))] * 2

    def invariant(s):
        with engine.connect() as c:
            return c.execute(select(counter_core.PAGES.c.hits)).scalar_one() == 2
elif race == "nova":
    md, seed = nova_core.METADATA, nova_core._seed
    workers = [
        lambda s: _conn(lambda c: nova_core.add_key(c, nova_core.INSTANCE, "a", "1")),
        lambda s: _conn(lambda c: nova_core.add_key(c, nova_core.INSTANCE, "b", "2")),
    ]

    def invariant(s):
        with engine.connect() as c:
            keys = set(c.execute(select(nova_core.INSTANCE_METADATA.c.key)).scalars())
        return {"a", "b", "role"} <= keys
else:
    md = glance_orm.Base.metadata
    seed = glance_orm._seed(glance_orm.Image)
    update_image = glance_orm._update_image(glance_orm.Image)
    workers = [
        lambda s: _session(lambda se: update_image(se, glance_orm.IMAGE_ID, name="renamed")),
        lambda s: _session(lambda se: update_image(se, glance_orm.IMAGE_ID, status="active")),
    ]

    def invariant(s):
        with engine.connect() as c:
            row = c.execute(select(glance_orm.Image.__table__)).one()
        return row.name == "renamed" and row.status == "active"


def _conn(f):
    with engine.connect() as c:
        f(c)


def _session(f):
    with engine.connect() as c:
        f(Session(bind=c))
        c.commit()


def setup():
    with engine.begin() as c:
        md.drop_all(c)
        md.create_all(c)
        seed(c)


result = frontrun.explore(
    setup=setup,
    workers=workers,
    invariant=invariant,
    reproduce_on_failure=0,  # race-harness's figure includes no replays either
    total_timeout=120,
    warn_nondeterministic_sql=False,  # Nova's INSERTs have no RETURNING; frontrun asks to be told it is fine
)
print(
    json.dumps(
        {
            "race": race,
            "found": not result.property_holds,
            "explored": result.num_explored,
            "seconds": time.monotonic() - T0,
        }
    )
)
