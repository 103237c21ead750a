"""Job-script rendering: Jinja2 templates with every value shell-quoted, and sbatch's argv."""

from myriagate.scripts.render import (
    JinjaScriptRenderer,
    TemplateMeta,
    TemplateParameter,
    prepare_script,
    sbatch_args,
    validate_params,
)

__all__ = [
    "JinjaScriptRenderer",
    "TemplateMeta",
    "TemplateParameter",
    "prepare_script",
    "sbatch_args",
    "validate_params",
]
