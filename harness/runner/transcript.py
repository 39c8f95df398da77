"""How a schedule's transcript writes what a step did: the intent a session was given, what it read,
what it wrote, how its operation ended."""

from __future__ import annotations

from race_harness.events import Written
from race_harness.model import Intent, Snapshot, Value, is_kv, kv_key
from race_harness.operations import WriteOp
from race_harness.runner.steps import Attempt


def show_value(fld: str, value: Value | None) -> str:
    name = f"key {kv_key(fld)}" if is_kv(fld) else fld
    return f"deleted {name}" if value is None else f"{name}={value!r}"


def describe_intent(op: WriteOp) -> str:
    i = op.intent
    parts = [show_value(f, v) for f, v in sorted(i.sets.items())]
    parts += [f"{f} += {d}" for f, d in sorted(i.increments.items())]
    if i.replace_children:
        parts.append("replacing all keys")
    return ", ".join(parts)


def describe_read(snapshot: Snapshot, op: WriteOp) -> str:
    fields = sorted(op.intent.fields - {f for f in op.intent.fields if is_kv(f)})
    shown = [f"{f}={snapshot.state.get(f)!r}" for f in fields]
    keys = sorted(kv_key(f) for f in snapshot.state if is_kv(f))
    if keys or any(is_kv(f) for f in op.intent.fields):
        shown.append(f"keys: {', '.join(keys) or 'none'}")
    return f"read version {snapshot.version} ({'; '.join(shown)})"


def describe_written(written: Written, snapshot: Snapshot | None, intent: Intent | None = None) -> str:
    before = snapshot.state if snapshot else {}
    changed = [show_value(f, v) for f, v in sorted(written.items()) if v is None or before.get(f) != v]
    # a change the database computed (n = n + 1) stores no value of the call's own: shown as the change
    changed += [
        f"{f} {'+' if d > 0 else '-'}= {abs(d)} (computed by the database)"
        for f, d in sorted((intent.increments if intent else {}).items())
        if f not in written
    ]
    same = sum(1 for f, v in written.items() if v is not None and before.get(f) == v)
    text = "wrote " + (", ".join(changed) or "nothing new")
    # the columns a full-row write stores back unchanged: what a concurrent change to them is lost to
    return text + (f" and {same} other column{'s' if same != 1 else ''} back as read" if same else "")


def describe_outcome(attempt: Attempt) -> str:
    if attempt.type == "ok":
        return "committed"
    why = attempt.reason or "error"
    detail = f": {attempt.error}" if attempt.error and attempt.reason not in ("conflict",) else ""
    verb = "refused" if attempt.reason == "conflict" else "failed" if attempt.type == "fail" else "unknown outcome"
    return f"{verb} ({why}{detail})"
