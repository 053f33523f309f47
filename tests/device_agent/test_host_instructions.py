"""host-instructions under real valgrind. Each valgrind process costs ~7-15 s here, so
the module counts once in one batch and once one model per process, and every test
reads those."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest

from device_agent.backends import Measurement, get_backend
from device_agent.backends.host_instructions import HostInstructionsBackend
from tests.device_agent.layers import NOT_A_MODEL, conv, model

pytestmark = pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")

CHANNELS = (8, 16, 32)


@pytest.fixture(scope="module")
def backend() -> HostInstructionsBackend:
    return get_backend("host-instructions")  # type: ignore[return-value]


@pytest.fixture(scope="module")
def models() -> list[bytes]:
    return [model(conv(c, size=14)) for c in CHANNELS]


@pytest.fixture(scope="module")
def batch(backend: HostInstructionsBackend, models: list[bytes]) -> list[Measurement]:
    """One valgrind process: the three convs, a broken model, the first conv again."""
    return backend.measure_many([models[0], models[1], NOT_A_MODEL, models[2], models[0]])


@pytest.fixture(scope="module")
def singles(backend: HostInstructionsBackend, models: list[bytes]) -> list[Measurement]:
    """One valgrind process per model (two at a time: the host has two cores)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(backend.measure, models))


def test_same_model_counted_twice_gives_identical_counts(batch: list[Measurement], singles: list[Measurement]) -> None:
    first, again = batch[0], batch[4]  # two interpreters in one process
    assert first.ok and again.ok
    assert first.median == again.median == singles[0].median  # ... and a third, in another process
    assert first.spread == 0 and first.n == 1


def test_counts_grow_with_channels(batch: list[Measurement]) -> None:
    counts = [batch[0].median, batch[1].median, batch[3].median]
    assert counts[0] < counts[1] < counts[2], counts
    # Quadrupling the channels is 16x the MACs: the count must grow by far more than 4x.
    assert counts[2] > 4 * counts[0], counts


def test_batch_counts_match_one_by_one_counts(batch: list[Measurement], singles: list[Measurement]) -> None:
    in_batch = [batch[0], batch[1], batch[3]]
    for together, alone in zip(in_batch, singles):
        assert alone.ok, alone.error
        assert together.median == pytest.approx(alone.median, rel=1e-4)
    assert batch[0].details["batch_models"] == 5 and singles[0].details["batch_models"] == 1


def test_a_broken_model_fails_alone(batch: list[Measurement]) -> None:
    broken = batch[2]
    assert not broken.ok and "cannot load model" in broken.error
    assert all(m.ok for i, m in enumerate(batch) if i != 2)


def test_first_invoke_is_counted_apart_from_the_steady_state(batch: list[Measurement]) -> None:
    for measurement in (batch[0], batch[1], batch[3]):
        first, steady = measurement.details["first_invoke"], measurement.details["steady_invokes"]
        assert steady == [measurement.median]
        # One-time set-up: a few hundred instructions, never fewer than a steady invoke.
        assert 0 <= first - steady[0] < 10_000


def test_without_callgrind_control_counts_are_the_same(batch: list[Measurement], models: list[bytes]) -> None:
    # A callgrind_control that fails (/bin/false, a real program): the runner cannot
    # switch instrumentation on, the backend falls back to instrumenting from the start
    # and keeps doing so.
    backend = HostInstructionsBackend()
    backend.callgrind_control = shutil.which("false")
    fallback = backend.measure(models[0])
    assert fallback.ok, fallback.error
    assert backend.fast_start is False and fallback.details["instrumented_from_start"] is True
    assert batch[0].details["instrumented_from_start"] is False
    assert fallback.median == batch[0].median


def test_describes_valgrind_in_the_device_profile(backend: HostInstructionsBackend) -> None:
    device = backend.describe()
    assert device.metric == "instructions" and device.threads == 1
    assert "valgrind-" in device.cpu_model
    with pytest.raises(ValueError, match="one thread"):
        get_backend("host-instructions", threads=2)
