"""Task presets: the data, the host, and the training settings each task trains with."""

from esper_shell.tasks.presets import TASKS, get_task
from esper_shell.tasks.spec import Batches, TaskSpec, TrainingSettings

__all__ = ["TASKS", "Batches", "TaskSpec", "TrainingSettings", "get_task"]
