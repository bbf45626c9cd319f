"""The no-op scriptlet the benchmarks schedule: it measures framework overhead and nothing else."""


def noop() -> None:
    """Do nothing."""
