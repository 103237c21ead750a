"""`myriagate templates list|show`: the job-script templates the gateway offers."""

from __future__ import annotations

import typer

from myriagate.cli.context import localised, open_gateway
from myriagate.cli.help_group import OneLineHelpGroup
from myriagate.cli.output import JsonOpt, console, fmt_range, guarded, print_json, print_table
from myriagate.cli.tables import Col

templates_app = typer.Typer(cls=OneLineHelpGroup, help="Job-script templates.", no_args_is_help=True)


@templates_app.command("list")
@guarded
def templates_list(ctx: typer.Context, json: JsonOpt = False) -> None:
    """Templates offered by the gateway."""
    with open_gateway(ctx) as client:
        items = client.templates()
    if json:
        print_json([t.model_dump(mode="json") for t in items])
    else:
        print_table(
            (Col("name", whole=True), Col("title", whole=False)),
            [(t.name, localised(t.title)) for t in items],
        )


@templates_app.command("show")
@guarded
def templates_show(ctx: typer.Context, name: str, json: JsonOpt = False) -> None:
    """A template and its parameters (pass them with `submit --template NAME --param k=v`)."""
    with open_gateway(ctx) as client:
        detail = client.template(name)
    if json:
        print_json(detail.model_dump(mode="json"))
        return
    console().print(f"[bold]{detail.name}[/bold]: {localised(detail.title)}\n{localised(detail.description)}")
    rows = [
        (
            p.name,
            p.type,
            "" if p.default is None else p.default,
            ", ".join(p.choices or []) or fmt_range(p.min, p.max),
            localised(p.help),
        )
        for p in detail.parameters
    ]
    columns = (Col("parameter", whole=True), Col("type", whole=True), "default", Col("allowed", whole=False),
               Col("help", whole=False))  # fmt: skip
    print_table(columns, rows)
