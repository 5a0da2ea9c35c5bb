"""`python -m esper_shell.bench overhead|counterfactual|outcome`."""

from esper_shell.bench.cli import bench_app

bench_app(prog_name="python -m esper_shell.bench")
