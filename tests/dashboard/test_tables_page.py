"""The lookup tables page in a real headless Chromium: the estimate error per model
family before and after the table's calibration, against a live server whose store
holds two families of measured models (and a profile with too few to fit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from latency_tables import LayerSignature, store
from latency_tables.db import write_transaction
from latency_tables.estimator import overhead_signature
from latency_tables.protocol import DeviceDescription
from service.dashboard import tables_view
from service.db.session import Database
from tests.server.conftest import LiveServer

CONV_SCALE, DENSE_SCALE, OVERHEAD = 2.0, 1.1, 0.3
FAMILY_B_BIAS = 1.15


def conv(out_channels: int) -> LayerSignature:
    return LayerSignature(op="CONV_2D", inputs=[(1, 8, 8, 8)], output=(1, 8, 8, out_channels),
                          kernel=(3, 3), stride=(1, 1), padding="SAME")


def dense(units: int) -> LayerSignature:
    return LayerSignature(op="FULLY_CONNECTED", inputs=[(1, 32)], output=(1, units))


def seed_families(session: Session, cpu: str, models_per_family: int) -> str:
    """A profile with entries and measured models of two families: conv+conv, and
    conv+dense+dense (which measures FAMILY_B_BIAS slower than the rest)."""
    with write_transaction(session):
        profile = store.get_or_create_profile(
            session, DeviceDescription(backend="host-latency", cpu_model=cpu, runtime_version="r"))
        signatures = [conv(n) for n in (8, 16, 24, 32, 40, 48)] + [dense(u) for u in (10, 20, 40, 80)]
        medians = {s.digest: 0.05 * (i + 1) for i, s in enumerate(signatures)}
        for s in signatures:
            store.upsert_entry(session, profile_id=profile.id, metric="latency_ms", signature=s,
                               median=medians[s.digest], spread=0.0, n=5)
        store.upsert_entry(session, profile_id=profile.id, metric="latency_ms", signature=overhead_signature(),
                           median=0.0, spread=0.0, n=5)
        for i in range(models_per_family):
            for family, layers, bias in (
                ("a", [conv(8 * (1 + i % 6)), conv(8 * (1 + (i + 2) % 6))], 1.0),
                ("b", [conv(8 * (1 + (i + 1) % 6)), dense((10, 20, 40, 80)[i % 4]), dense((10, 20, 40, 80)[(i + 1) % 4])],
                 FAMILY_B_BIAS),
            ):
                sums = sum((CONV_SCALE if s.op == "CONV_2D" else DENSE_SCALE) * medians[s.digest] for s in layers)
                measured = bias * (sums + OVERHEAD)
                sha = f"{family}{i:063x}"
                store.record_model_layers(session, sha, layers)
                store.add_model_measurement(session, profile_id=profile.id, metric="latency_ms", model_sha256=sha,
                                            measured=measured, spread=0.0, n=5, estimated=sum(medians[s.digest] for s in layers),
                                            raw_sum=sum(medians[s.digest] for s in layers))
    return profile.id


@pytest.fixture(scope="module")
def seeded(server: LiveServer) -> Iterator[dict[str, Any]]:
    database = Database.connect(server.settings.database_url)
    with database.session() as session:
        fitted = seed_families(session, "tables-cpu-fit", models_per_family=6)
        few = seed_families(session, "tables-cpu-few", models_per_family=2)
    with database.session() as session:
        expected = {p: tables_view.family_errors(session, p, "latency_ms") for p in (fitted, few)}
    yield {"fitted": fitted, "few": few, "expected": expected}
    database.dispose()


def cells(row: Any) -> dict[str, str]:
    return {name: row.locator(f"td.err-{name}").inner_text() for name in ("raw", "before", "after", "held-out")}


def test_family_errors_before_and_after_calibration(page, server, seeded, screenshot_dir):
    page.goto(server.base_url + "/tables")
    card = page.locator(f'section.table-card[data-table="{seeded["fitted"]}-latency_ms"]')
    expected = seeded["expected"][seeded["fitted"]]
    assert "per-op scales" in card.locator(".calibration-kind").inner_text()
    rows = card.locator("table.families tbody tr")
    assert rows.count() == len(expected["families"]) == 3  # two families and all of them
    for i, want in enumerate(expected["families"]):
        row = rows.nth(i)
        assert row.get_attribute("data-family") == want["key"]
        shown = cells(row)
        assert shown["before"] == f"{want['one_scale']:.1f}%" and shown["after"] == f"{want['calibrated']:.1f}%"
        assert shown["held-out"] == f"{want['held_out']:.1f}%"
        # the family bias is what one scale cannot fit and the calibration can
        assert want["calibrated"] < want["one_scale"]
    assert [expected["families"][i]["models"] for i in range(2)] == [6, 6]
    page.wait_for_function("el => el.querySelector('[data-chart=families]').data !== undefined",
                           arg=card.element_handle())
    traces = card.locator('[data-chart="families"]').evaluate("el => el.data.map(t => [t.name, t.y.length])")
    assert traces == [["one scale (before)", 3], ["calibrated (after)", 3], ["family held out", 3]]
    page.screenshot(path=str(screenshot_dir / "tables-families.png"), full_page=True)


def test_too_few_models_keep_one_scale(page, server, seeded):
    page.goto(server.base_url + "/tables")
    card = page.locator(f'section.table-card[data-table="{seeded["few"]}-latency_ms"]')
    assert card.locator(".calibration-kind").inner_text().startswith("one scale")
    rows = card.locator("table.families tbody tr")
    assert rows.count() == 3
    for i, want in enumerate(seeded["expected"][seeded["few"]]["families"]):
        # the calibration in use is the one scale: after equals before
        assert cells(rows.nth(i))["after"] == cells(rows.nth(i))["before"] == f"{want['one_scale']:.1f}%"
