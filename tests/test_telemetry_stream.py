"""The event stream's envelope: header line, time and run id on every event, kept across a resume."""

from __future__ import annotations

import json
from pathlib import Path

from esper_core import TelemetryEvent
from esper_shell.runs import resume, start, train
from esper_shell.telemetry import JsonlSink
from esper_shell.telemetry.stream import (
    SCHEMA_VERSION,
    RunMeta,
    TelemetryOptions,
    ensure_meta,
    new_run_id,
    read_meta,
    write_meta,
)
from tests.engine_helpers import eager_config


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class TestJsonlSink:
    def test_opening_writes_a_header_with_the_schema_version(self, tmp_path: Path) -> None:
        JsonlSink(tmp_path / "e.jsonl", run_id="r1", clock=lambda: 5.0).close()
        assert lines(tmp_path / "e.jsonl") == [
            {"kind": "schema", "format": "esper.events", "version": SCHEMA_VERSION, "run_id": "r1", "time": 5.0}
        ]

    def test_every_event_carries_time_and_run_id(self, tmp_path: Path) -> None:
        sink = JsonlSink(tmp_path / "e.jsonl", run_id="r1", clock=lambda: 7.5)
        sink.emit(TelemetryEvent(kind="epoch", epoch=3, payload={"x": 1}))
        sink.close()
        event = lines(tmp_path / "e.jsonl")[1]
        assert (event["kind"], event["time"], event["run_id"], event["payload"]) == ("epoch", 7.5, "r1", {"x": 1})

    def test_reopening_appends_a_second_header(self, tmp_path: Path) -> None:
        for _ in range(2):
            JsonlSink(tmp_path / "e.jsonl", run_id="r1").close()
        assert [line["kind"] for line in lines(tmp_path / "e.jsonl")] == ["schema", "schema"]


class TestRunMeta:
    def test_run_ids_are_unique_and_start_with_the_utc_start_time(self) -> None:
        first, second = new_run_id(lambda: 0.0), new_run_id(lambda: 0.0)
        assert first.startswith("19700101-000000-") and first != second

    def test_round_trips_options(self, tmp_path: Path) -> None:
        meta = RunMeta(run_id="abc", options=TelemetryOptions(csv=True, shapley_every=3))
        write_meta(tmp_path, meta)
        assert read_meta(tmp_path) == meta

    def test_a_run_without_the_file_gets_one_id_for_good(self, tmp_path: Path) -> None:
        assert ensure_meta(tmp_path).run_id == read_meta(tmp_path).run_id


class TestRuns:
    def test_a_run_stamps_its_events_with_one_run_id(self, tmp_path: Path) -> None:
        run = start("digits", eager_config(epochs=2), run_dir=tmp_path / "run")
        train(run)
        records = lines(tmp_path / "run" / "events.jsonl")
        assert records[0]["kind"] == "schema"
        assert {r["run_id"] for r in records} == {read_meta(tmp_path / "run").run_id}
        assert all(isinstance(r["time"], float) for r in records)

    def test_a_resume_keeps_the_run_id_and_emits_resumed_at_the_restart_epoch(self, tmp_path: Path) -> None:
        run = start("digits", eager_config(epochs=4), run_dir=tmp_path / "run")
        train(run, stop_after=2)
        run = resume(tmp_path / "run")
        train(run)
        records = lines(tmp_path / "run" / "events.jsonl")
        resumed = [r for r in records if r["kind"] == "resumed"]
        assert [r["epoch"] for r in resumed] == [2]
        assert len({r["run_id"] for r in records}) == 1

    def test_every_epoch_snapshots_the_occupied_slots(self, tmp_path: Path) -> None:
        run = start("digits", eager_config(epochs=4), run_dir=tmp_path / "run")
        train(run)
        slots = [r for r in lines(tmp_path / "run" / "events.jsonl") if r["kind"] == "slot"]
        assert slots and {"stage", "blueprint", "alpha", "epochs_in_stage", "contribution"} <= set(slots[0]["payload"])
        last = [r for r in slots if r["epoch"] == 3]
        assert {r["slot_id"] for r in last} == {s for s, slot in run.trainer.model.seed_slots.items() if slot.state}
