"""Esper's imperative shell: torch modules, devices, data, files, telemetry and the CLI."""
