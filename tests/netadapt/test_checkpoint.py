import json

import pytest

from service.netadapt import JsonFileStore, MemoryStore


def test_json_store_round_trip(tmp_path):
    store = JsonFileStore(tmp_path / "run" / "state.json")
    assert store.load() is None
    state = {"schema_version": 1, "x": [1, 2.5, "s", None, {"k": True}]}
    store.save(state)
    assert store.load() == state
    store.save({"schema_version": 1, "x": []})
    assert store.load() == {"schema_version": 1, "x": []}
    # Only the state file remains: temp files were renamed over it.
    assert [p.name for p in (tmp_path / "run").iterdir()] == ["state.json"]


def test_json_store_keeps_old_state_when_state_is_not_json(tmp_path):
    store = JsonFileStore(tmp_path / "state.json")
    store.save({"ok": 1})
    with pytest.raises(ValueError):
        store.save({"bad": float("nan")})
    with pytest.raises(TypeError):
        store.save({"bad": object()})
    assert store.load() == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_memory_store_copies_and_insists_on_json():
    store = MemoryStore()
    assert store.load() is None
    state = {"a": [1]}
    store.save(state)
    state["a"].append(2)
    assert store.load() == {"a": [1]}
    assert store.saves == 1
    with pytest.raises(TypeError):
        store.save({"t": (1, object())})
    assert json.loads(json.dumps(store.load())) == {"a": [1]}
