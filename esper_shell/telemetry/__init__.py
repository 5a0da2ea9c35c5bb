"""Telemetry sinks: where the core's ``TelemetryEvent`` records go (console, JSONL file)."""

from esper_shell.telemetry.sinks import ConsoleSink, JsonlSink, MemorySink, TelemetrySink, fan_out

__all__ = ["ConsoleSink", "JsonlSink", "MemorySink", "TelemetrySink", "fan_out"]
