"""``f0 resume RUN``: continue a failed, interrupted or killed run under the same id."""

from __future__ import annotations

import click

from framework0.cli.options import running_options


@click.command()
@click.argument("run_id", metavar="RUN")
@click.option("--from", "from_step", metavar="STEP", help="Run STEP and everything downstream of it again.")
@running_options
def resume(
    run_id: str,
    from_step: str | None,
    params: tuple[str, ...],
    executor: str,
    dask_scheduler: str | None,
    max_parallel: int | None,
    as_json: bool,
    junit: str | None,
    no_cache: bool,
    store: str | None,
    debug: bool,
) -> None:
    """Continue run RUN (an id from f0 runs list, or a unique start of one, 4 characters or more) under the same id.

    Steps that finished are not run again: their outputs and context changes are restored. A step
    that was running when the runner stopped runs again (at-least-once). The recipe must not have
    changed since; a step's code may (that is how a bug gets fixed before resuming).

    \b
    Examples:
      f0 resume 3fa2c1
      f0 resume 3fa2c1 --from transform     # transform and everything after it run again
      f0 resume 3fa2c1 -p batch=10
    Exit status: 0 succeeded, 1 a step failed, 2 refused (unknown run, changed recipe), 130 interrupted.
    """
    from framework0 import api
    from framework0.cli.options import command_config
    from framework0.cli.run import check_junit, execute
    from framework0.recipe.params import parse_assignments

    overrides = parse_assignments(params)
    check_junit(junit)
    config = command_config(
        store,
        executor=executor,
        dask_scheduler=dask_scheduler,
        max_parallel=max_parallel,
        use_cache=False if no_cache else None,
    )
    loaded, state = api.prepare(run_id, config, from_step=from_step, params=overrides, params_from_text=True)
    execute(
        lambda bus: api.execute(loaded, config, bus=bus, resume=state),
        loaded,
        as_json=as_json,
        junit=junit,
        debug=debug,
    )
