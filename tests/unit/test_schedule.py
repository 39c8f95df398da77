"""Schedules as text, the interleavings Hypothesis generates, and reading InnoDB's lock waits (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from race_harness import get_scenario, get_strategy
from race_harness.databases.mysql import InnoDBStatus
from race_harness.errors import UsageError
from race_harness.explore import expressible_operations, schedules
from race_harness.scenarios.nova_server_metadata import SCENARIO as NOVA
from race_harness.schedule import Schedule, Step, interleave


def test_parse_keeps_order_operations_and_round_trips() -> None:
    s = Schedule.parse("B=update_all  A.read B.read A.write B.write A.commit B.commit")
    assert [str(x) for x in s.steps][:3] == ["A.read", "B.read", "A.write"]
    assert s.operation("B") == "update_all" and s.operation("A") is None
    assert not s.commits_in_write("A")
    assert str(s) == "B=update_all A.read B.read A.write B.write A.commit B.commit"
    assert eval(repr(s), {"Schedule": Schedule}) == s  # what Hypothesis prints is pasteable Python


def test_a_session_without_commit_commits_in_its_write() -> None:
    s = Schedule.parse("A.read B.read A.write B.write")
    assert s.commits_in_write("A") and s.commits_in_write("B")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the schedule is empty"),
        ("A.read A.reed", "a statement like A.update:images or A.2 (or B=OPERATION) but got 'A.reed'"),
        ("a.read a.write", "expected a session letter A-Z but got 'a'"),
        ("AB.read", "expected a session letter A-Z but got 'AB'"),
        ("A.write A.read", "session A must run read, write[, commit] once each in that order but got write, read"),
        ("A.read A.write A.write", "but got read, write, write"),
        ("A.read", "but got read"),
        ("A.read A.commit", "but got read, commit"),
        ("B= A.read A.write", "expected SESSION=OPERATION (e.g. B=update_all) but got 'B='"),
        ("A=x A=y A.read A.write", "session A is given two operations: x, y"),
        ("C=update A.read A.write", "an operation is given for session C, which has no steps"),
    ],
)
def test_bad_schedules_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        Schedule.parse(text)


def test_unknown_operation_names_the_scenario_s_operations() -> None:
    with pytest.raises(UsageError, match="expected one of: update, update-role, update_all"):
        NOVA.schedule_write(0, "upsert", 2)


def test_interleave_of_zeros_is_serial() -> None:
    assert str(interleave("AB", [0] * 6)) == "A.read A.write A.commit B.read B.write B.commit"
    assert str(interleave("AB", [1, 0, 0, 0, 0, 0])) == "B.read A.read A.write A.commit B.write B.commit"


@given(st.integers(2, 4).flatmap(lambda n: st.tuples(st.just(n), st.lists(st.integers(0, 3), max_size=12))))
def test_every_interleaving_keeps_each_session_s_order(drawn: tuple[int, list[int]]) -> None:
    n, choices = drawn
    s = interleave("ABCD"[:n], choices)
    assert len(s.steps) == 3 * n
    for letter in "ABCD"[:n]:
        assert s.steps_of(letter) == ["read", "write", "commit"]


@given(schedules(NOVA))
def test_generated_schedules_are_valid_and_parse_back(schedule: Schedule) -> None:
    assert 2 <= len(schedule.sessions) <= 4
    assert Schedule.parse(str(schedule)) == schedule
    for s in schedule.sessions:
        assert schedule.operation(s) in (None, "update_all", "update-role")


def test_operations_a_strategy_cannot_express_are_never_drawn() -> None:
    assert expressible_operations(NOVA, get_strategy("atomic-update")) == ["update", "update-role"]
    assert expressible_operations(get_scenario("counter"), get_strategy("full-row")) == ["increment"]


def test_steps_are_plain_data() -> None:
    assert str(Step("C", "commit")) == "C.commit"


INNODB_STATUS = """
------------
TRANSACTIONS
------------
Trx id counter 18248
LIST OF TRANSACTIONS FOR EACH SESSION:
---TRANSACTION 18247, ACTIVE 1 sec starting index read
mysql tables in use 1, locked 1
LOCK WAIT 2 lock struct(s), heap size 1128, 1 row lock(s)
MariaDB thread id 571, OS thread handle 139741597312704, query id 100500 127.0.0.1 root Updating
UPDATE lk SET v=2 WHERE id=1
------- TRX HAS BEEN WAITING 1153059 us FOR THIS LOCK TO BE GRANTED:
RECORD LOCKS space id 95 page no 3 n bits 320 index PRIMARY of table `test`.`lk` trx id 18247 lock_mode X waiting
------------------
---TRANSACTION 18246, ACTIVE 1 sec
2 lock struct(s), heap size 1128, 1 row lock(s), undo log entries 1
MariaDB thread id 570, OS thread handle 139741593319104, query id 100499 127.0.0.1 root
---TRANSACTION 18250, ACTIVE 3 sec starting index read
LOCK WAIT 2 lock struct(s), heap size 1136, 1 row lock(s)
MySQL thread id 12, OS thread handle 1, query id 9 localhost root updating
--------
FILE I/O
--------
"""


def test_innodb_status_names_the_waiting_connections() -> None:
    # a MariaDB and a MySQL 5.7-style block; the holder (570) is not waiting
    assert InnoDBStatus.parse(INNODB_STATUS).waiters() == {571, 12}
    assert InnoDBStatus.parse("no transactions here").waiters() == set()


ONE_WAIT = INNODB_STATUS.split("---TRANSACTION 18250")[0] + "--------\nFILE I/O\n"


def test_the_status_names_a_holder_only_when_no_other_transaction_has_row_locks() -> None:
    status = InnoDBStatus.parse(ONE_WAIT)
    assert status.waiters() == {571} and status.sole_holder(571) == 570
    # 12 also has a row lock: either could hold 571's (a waiting lock in the row's queue blocks too)
    assert InnoDBStatus.parse(INNODB_STATUS).sole_holder(571) is None
    # 12 waits, but the status does not say for what kind of lock
    assert InnoDBStatus.parse(INNODB_STATUS).sole_holder(12) is None
    # a transaction no session owns (a prepared XA one after a restart) with row locks: no name
    recovered = ONE_WAIT.replace("MariaDB thread id 570, OS thread handle 139741593319104, ", "")
    assert InnoDBStatus.parse(recovered).sole_holder(571) is None
    # a list InnoDB cut short may leave out the holder
    assert InnoDBStatus.parse(ONE_WAIT + "...truncated...\n").sole_holder(571) is None
    # a table lock (AUTO-INC, LOCK TABLES) is no row lock: the row-lock count proves nothing
    table_lock = ONE_WAIT.replace("RECORD LOCKS space id 95 page no 3 n bits 320 index PRIMARY of", "TABLE LOCK")
    assert InnoDBStatus.parse(table_lock).sole_holder(571) is None
