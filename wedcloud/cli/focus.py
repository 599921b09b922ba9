"""``wedcloud focus``: FOCUS 1.2 from billing files, without Dagster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer

from analytics.focus.convert import convert, export_lake
from analytics.focus.errors import NormalisationError
from analytics.focus.formats import FORMATS
from analytics.money import format_amount
from pipelines.settings import PipelineSettings
from wedcloud.cli.context import console

app = typer.Typer(
    no_args_is_help=True, help="Convert billing exports to FOCUS 1.2, validate them, export the lake's line items."
)


@app.command("convert")
def convert_command(
    inputs: Annotated[list[Path], typer.Argument(help="Billing files: CSV (.gz), Parquet or JSONL.", exists=True)],
    out: Annotated[Path, typer.Option("--out", help="FOCUS 1.2 output, .parquet or .csv.")],
    fmt: Annotated[str | None, typer.Option("--format", help="Force a format instead of detecting it.")] = None,
) -> None:
    """Normalise files into one FOCUS 1.2 file; each input's total is checked against its source."""
    try:
        result = convert(inputs, out, fmt=fmt)
    except (NormalisationError, ValueError) as exc:
        console.print(f"[red]refused:[/] {exc}")
        raise typer.Exit(2) from None
    for item in result.inputs:
        totals = ", ".join(f"{c} {format_amount(a)}" for c, a in sorted(item.totals.items()))
        console.print(f"{item.path}: {item.format}, {item.rows} rows, {item.metric} {totals} (matches the source)")
        for notice in item.notices:
            console.print(f"  [yellow]warning[/] {notice.code}: {notice.message}", markup=True, highlight=False)
    console.print(f"wrote {result.rows} FOCUS 1.2 rows to {result.path}")


@app.command("export")
def export_command(
    out: Annotated[Path, typer.Option("--out", help="Folder to write provider=/month= Parquet partitions into.")],
    provider: Annotated[
        str | None, typer.Option(help="Only this ProviderName (AWS, Microsoft, Google Cloud...).")
    ] = None,
) -> None:
    """Write the lake's FOCUS line items (WEDCLOUD_LAKE, or the home's lake/) as Parquet
    partitioned by provider and month."""
    try:
        result = export_lake(PipelineSettings().lake_location, out, provider=provider)
    except (OSError, duckdb.Error) as exc:
        console.print(f"[red]cannot export:[/] {exc}")
        raise typer.Exit(2) from None
    for name, month, rows in result.partitions:
        console.print(f"  provider={name}/month={month}: {rows} rows")
    console.print(f"wrote {result.rows} rows under {result.folder}")


@app.command("validate")
def validate_command(
    data_file: Annotated[Path, typer.Argument(help="A FOCUS .parquet or .csv file.", exists=True)],
    workdir: Annotated[Path, typer.Option(help="Where the validator runs and writes its report.")] = Path(
        ".wedcloud/focus-validator"
    ),
) -> None:
    """Run the FinOps Foundation's focus-validator 2.2.1 (in its own environment) on a file."""
    from wedcloud import focus_validator

    try:
        report = focus_validator.run(data_file, workdir)
    except focus_validator.ValidatorUnavailable as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"{report.total} rules, {len(report.failures)} failed, {report.skipped} skipped; report: {report.xml}"
    )
    for rule, why in sorted(report.explained.items()):
        console.print(f"  known defect of the validator's rule model: {rule} ({why})")
    for failure in report.unexplained:
        console.print(f"  [red]FAILED[/] {failure.rule}: {failure.message}")
    raise typer.Exit(1 if report.unexplained else 0)


@app.command("formats")
def formats_command() -> None:
    """List the billing formats the converter recognises."""
    for fmt in FORMATS:
        typer.echo(f"{fmt.name:32} {fmt.description}")
