"""The API's field paths as a researcher typed them on the command line.

A refusal names the request field at fault (``options.array``, ``params.steps``,
``staging.store``); at the command line the researcher wrote ``--array``, ``--param steps=…``
or ``--store``, so the CLI says those. sbatch options take their names from the option
table, the one place that knows each option's flag. A path the CLI has no spelling for is
shown as the API names it.
"""

from __future__ import annotations

from collections.abc import Sequence

# Request fields that are not sbatch options: the CLI option that fills each.
_REQUEST_FIELDS = {
    ("cluster",): "--cluster",
    ("template",): "--template",
    ("params",): "--param",
    ("staging",): "--input / --result",
    ("staging", "upload_id"): "--input",
    ("staging", "input_datasets"): "--input-dataset",
    ("staging", "output_patterns"): "--result",
    ("staging", "store"): "--store",
    ("query", "task"): "--task",
    ("query", "max_bytes"): "--bytes",
    ("query", "cluster"): "--cluster",
    ("path", "job_id"): "job id",
}


def cli_name(loc: Sequence[str | int]) -> str:
    """``("options", "cpus_per_task")`` -> ``--cpus-per-task (-c)``; ``("script", 4)`` ->
    ``script line 4``; anything unknown as the API's dotted path."""
    path = tuple(loc[1:] if loc and loc[0] == "body" else loc)
    if len(path) >= 2 and path[0] == "options":
        return _option_flag(str(path[1]))
    if len(path) == 2 and path[0] == "params":
        return f"--param {path[1]}"
    if len(path) == 2 and path[0] == "script" and isinstance(path[1], int):
        return f"script line {path[1]}"
    if len(path) == 2 and path[0] == "query" and (path[0], path[1]) not in _REQUEST_FIELDS:
        return "--" + str(path[1]).replace("_", "-")  # jobs list's filters: --since, --state
    names = tuple(str(p) for p in path)
    # A list field's items (staging.output_patterns.0) are the option's too.
    known = _REQUEST_FIELDS.get(names[:2]) or _REQUEST_FIELDS.get(names[:1])
    return known or ".".join(names)


def _option_flag(python_name: str) -> str:
    # Imported here: the table is read only when a refusal names an option, so commands that
    # print no such refusal (jobs list, --help) do not load it.
    from myriagate.domain.sbatch_options import table

    option = table.BY_NAME.get(python_name.replace("_", "-"))
    if option is None:
        return "--" + python_name.replace("_", "-")
    return f"--{option.name} (-{option.short})" if option.short else f"--{option.name}"
