"""``gammapy-lat allsky CONFIG``: the all-sky, multi-file counts and exposure pipeline."""
import click

from .common import handle_errors

# Imports of gammapy and of the package's layers are deferred into the commands: importing
# them takes several seconds, and `gammapy-lat --help` or a wrong option must answer at once.

__all__ = ["allsky_command"]


@click.command("allsky")
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--n-jobs", type=int, default=None, help="Number of workers (overrides parallel.n_jobs).")
@click.option(
    "--backend",
    type=click.Choice(["multiprocessing", "ray"]),
    default=None,
    help="Parallel backend (overrides parallel.backend).",
)
@click.option("--ray-address", default=None, help="Ray cluster address (overrides parallel.ray_address).")
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
@click.option("--dry-run", is_flag=True, help="List the tasks to run and exit.")
@handle_errors
def allsky_command(config, n_jobs, backend, ray_address, progress, dry_run):
    """Bin weekly FT1 files into all-sky counts, livetime and exposure cubes.

    CONFIG is a YAML file (see docs/pipeline.md). Partial products go to OUTDIR/partials under
    content-hash names; a rerun after an interruption computes only what is missing. Final
    products: OUTDIR/<component>/ccube.fits (gtbin), ltcube.fits (gtltcube), bexpmap.fits
    (gtexpcube2), and OUTDIR/manifest.json.
    """
    from ..pipeline import AllSkyConfig, AllSkyPipeline

    cfg = AllSkyConfig.read(config)
    updates = {}
    if n_jobs is not None:
        updates["n_jobs"] = n_jobs
    if backend is not None:
        updates["backend"] = backend
    if ray_address is not None:
        updates["ray_address"] = ray_address
    if updates:
        cfg.parallel = cfg.parallel.model_copy(update=updates)
    pipeline = AllSkyPipeline(cfg)

    if dry_run:
        graph, _ = pipeline.build_graph()
        missing = [t for t in graph if not t.output.exists()]
        click.echo(f"{len(graph)} tasks, {len(missing)} to compute:")
        for task in missing:
            click.echo(f"  {task.label} -> {task.output}")
        return

    from ..utils import check_output_dir

    check_output_dir(cfg.outdir, what="outdir")
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=0, unit="task", desc="allsky", dynamic_ncols=True)

    def on_task(result, n_finished, n_total):
        if bar is not None:
            bar.total = n_total
            bar.set_postfix_str(f"{result.label} ({result.status})", refresh=False)
            bar.n = n_finished
            bar.refresh()

    try:
        result = pipeline.run(progress=on_task)
    finally:
        if bar is not None:
            bar.close()

    report = result.report
    click.echo(
        f"allsky: {report.n_tasks} tasks, {report.n_done} computed, {report.n_present} already done, "
        f"wall time {report.wall_time:.1f} s, backend {cfg.parallel.backend}, {cfg.parallel.n_jobs} worker(s)"
    )
    for kind, (n, seconds) in sorted(report.by_kind().items()):
        if n:
            click.echo(f"  {kind:10s} {n:5d} computed, {seconds:9.1f} s of work")
    peaks = report.peak_memory_mb
    if peaks:
        click.echo(f"  peak memory per worker: {', '.join(f'{v:.0f} MB' for v in peaks.values())}")
    for name, paths in result.products.items():
        figures = result.summary.get(name, {})
        extra = ", ".join(f"{k}={v:.6g}" for k, v in figures.items() if isinstance(v, (int, float)))
        click.echo(f"  {name}: {extra}")
        for kind, path in paths.items():
            if path is not None:
                click.echo(f"    {kind:9s} {path}")
