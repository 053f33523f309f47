"""Which files of a run directory are served, and under which names."""

from __future__ import annotations

from service.runs.artifacts import find_artifact, iteration_models_without_tflite, list_artifacts


def make_run_dir(root):
    (root / "iterations").mkdir(parents=True)
    (root / "proposals").mkdir()
    for name in ("baseline.keras", "iterations/iter_000.keras", "iterations/iter_000.tflite",
                 "iterations/iter_001.keras", "proposals/iter_002__conv1.keras", "state.json",
                 "final.keras", "history.json"):
        (root / name).write_bytes(b"x" * 3)
    return root


def test_lists_models_of_kept_iterations_and_finals_in_order(tmp_path):
    root = make_run_dir(tmp_path / "run")
    names = [a.name for a in list_artifacts(root)]
    assert names == ["baseline.keras", "iter_000.keras", "iter_000.tflite", "iter_001.keras",
                     "final.keras", "report.json"]
    report = find_artifact(root, "report.json")
    assert report is not None and report.format == "json" and report.path == root / "history.json"
    iteration = find_artifact(root, "iter_001.keras")
    assert iteration is not None and iteration.iteration == 1 and iteration.kind == "iteration"


def test_only_known_names_are_served(tmp_path):
    root = make_run_dir(tmp_path / "run")
    (tmp_path / "secret.keras").write_bytes(b"s")
    for name in ("state.json", "../secret.keras", "iterations/iter_000.keras", "iter_002__conv1.keras",
                 "final.tflite", "iter_1.keras", "iter_000.keras/../../secret.keras"):
        assert find_artifact(root, name) is None, name


def test_iterations_missing_their_tflite(tmp_path):
    root = make_run_dir(tmp_path / "run")
    assert [p.name for p in iteration_models_without_tflite(root)] == ["iter_001.keras"]
    assert iteration_models_without_tflite(tmp_path / "nothing") == []
