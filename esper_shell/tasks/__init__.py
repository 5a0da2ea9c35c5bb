"""Tasks: what a run trains on (``Task``, for your own model and data) and the built-in presets."""

from esper_shell.tasks.presets import TASKS, PresetTasks, get_task
from esper_shell.tasks.spec import Batch, LossFn, Task, TaskPreset, TrainBatches, cross_entropy

__all__ = [
    "TASKS",
    "Batch",
    "LossFn",
    "PresetTasks",
    "Task",
    "TaskPreset",
    "TrainBatches",
    "cross_entropy",
    "get_task",
]
