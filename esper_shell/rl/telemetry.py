"""``events.jsonl`` of a PPO run: one ``update`` event per PPO update, one ``episode`` event per env.

The stream has the same envelope as a training run's (header line, ``time``, ``run_id``;
docs/telemetry.md). ``epoch`` holds the update index, so a ``resumed`` event at update U
marks the replay point as it does for epochs.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

import attrs

from esper_core import LifecycleOp, TelemetryEvent
from esper_shell.rl.run_files import PPODirectory
from esper_shell.telemetry.sinks import JsonlSink
from esper_shell.telemetry.stream import RunMeta, ensure_meta, new_run_id, resumed_event, write_meta

if TYPE_CHECKING:
    from esper_shell.rl.train import PPORun, UpdateLog


def update_events(run: PPORun, log: UpdateLog) -> list[TelemetryEvent]:
    """The update's figures, then each env's episode: outcome, seed and the mix of actions taken."""
    events = [TelemetryEvent(kind="update", epoch=log.update, payload=attrs.asdict(log))]
    # This rank's envs played the update's episodes from rank * (its env count) on (run_update's numbering).
    first = run.episodes_done - run.ppo.n_envs + run.collective.rank * run.envs.n_envs
    for index, (episode, metrics) in enumerate(zip(run.envs.episodes(), run.envs.outcomes(), strict=True)):
        actions = Counter(episode.actions)
        payload = {
            "episode": first + index,
            "env": index,
            "seed": episode.seed,
            "final_accuracy": metrics["final_accuracy"],
            "best_accuracy": metrics["best_accuracy"],
            "params": metrics["params"],
            "seeds_germinated": metrics["seeds_germinated"],
            "fossilized_seeds": metrics["fossilized_seeds"],
        }
        payload |= {f"actions_{op.name.lower()}": actions.get(op.name, 0) for op in LifecycleOp}
        events.append(TelemetryEvent(kind="episode", epoch=log.update, payload=payload))
    return events


class PPOEventStream:
    """Opens ``RUN_DIR/events.jsonl`` for a fresh or resumed PPO run and writes its events."""

    def __init__(self, run: PPORun, directory: PPODirectory) -> None:
        if run.history:
            meta = ensure_meta(directory.path)
        else:
            meta = RunMeta(run_id=new_run_id())
            write_meta(directory.path, meta)
        self.sink = JsonlSink(directory.path / "events.jsonl", run_id=meta.run_id)
        if run.history:
            self.sink.emit(resumed_event(len(run.history), meta.run_id))
        else:
            payload = {"task": run.config.task, "controller": "ppo", "episodes": run.episodes}
            self.sink.emit(TelemetryEvent(kind="run_started", epoch=0, payload=payload))

    def update(self, run: PPORun, log: UpdateLog) -> None:
        for event in update_events(run, log):
            self.sink.emit(event)

    def close(self, run: PPORun) -> None:
        if run.finished:
            payload = {"episodes": run.episodes_done, "updates": len(run.history)}
            self.sink.emit(TelemetryEvent(kind="run_finished", epoch=len(run.history), payload=payload))
        self.sink.close()
