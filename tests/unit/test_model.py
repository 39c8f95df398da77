from __future__ import annotations

import pytest

from race_harness.model import Intent


def test_merge_sets_increments_and_removes() -> None:
    state = {"name": "a", "n": 4, "kv:x": "1", "kv:y": "2"}
    new = Intent(sets={"name": "b", "kv:z": "3"}, increments={"n": 2}, removes=frozenset({"kv:x"})).apply(state)
    assert new == {"name": "b", "n": 6, "kv:y": "2", "kv:z": "3"}
    assert state["n"] == 4  # the read is not modified


def test_replace_children_is_nova_update_all() -> None:
    intent = Intent(sets={"kv:z": "3"}, replace_children=True)
    state = {"name": "a", "kv:x": "1", "kv:y": "2"}
    assert intent.apply(state) == {"name": "a", "kv:z": "3"}
    assert intent.removed_children(state) == {"kv:x", "kv:y"}


def test_increment_of_text_is_an_error() -> None:
    with pytest.raises(TypeError, match="non-integer field name='a'"):
        Intent(increments={"name": 1}).apply({"name": "a"})


def test_json_round_trip() -> None:
    intent = Intent(sets={"a": 1}, increments={"n": 1}, removes=frozenset({"kv:q"}), replace_children=True)
    assert Intent.from_json(intent.to_json()) == intent
