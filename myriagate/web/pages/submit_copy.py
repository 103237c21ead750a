"""The submit form filled in with a copy of one of your jobs ("Submit again", ``/submit?copy=<id>``).

The copy is the API's (``services.submission.resubmission``): the script as written, in the
"My own script" mode; each option the job was sent with in its field (a flag ticked); its
result patterns, endpoint and input datasets (kept in a hidden field, listed on the form);
a longer time limit for a job that timed out. The page says what was copied and changed;
nothing is sent until the researcher presses Submit, and the form then posts as any other.
"""

from __future__ import annotations

from uuid import UUID

from myriagate.errors import Text
from myriagate.services.submission.resubmission import JobCopy
from myriagate.web.pages.submit_fields import CHECKED, form_options
from myriagate.web.pages.submit_values import SHOWN_TEMPLATE

INPUT_DATASETS = "input_datasets"  # the hidden field: dataset ids, space-separated
COPY_OF = "copy_of"  # the hidden field: the job copied (said again on a redrawn form)


def copy_values(copy: JobCopy, template: str) -> dict[str, str]:
    """The form's fields for ``copy`` (``template``: the one the template mode keeps shown)."""
    names = {o.python_name for o in form_options()}
    values = {"mode": "script", "script": copy.script, "cluster": copy.cluster, "template": template,
              SHOWN_TEMPLATE: template, COPY_OF: str(copy.job_id)}  # fmt: skip
    for name, value in copy.options.items():
        if name in names:
            values[name] = CHECKED if value is True else str(value)
    values["output_patterns"] = "\n".join(copy.output_patterns)
    values["store"] = copy.store or ""
    values[INPUT_DATASETS] = " ".join(str(d) for d in copy.input_datasets)
    return values


def input_datasets(values: dict[str, str]) -> list[str]:
    """The input datasets the form carries (a copy's), as the API's ``staging.input_datasets``."""
    return values.get(INPUT_DATASETS, "").split()


def copied_from(values: dict[str, str]) -> UUID | None:
    try:
        return UUID(values.get(COPY_OF, ""))
    except ValueError:
        return None


def copy_notices(copy: JobCopy) -> list[Text]:
    """What the page says above a copy: check it, then what the copy changed."""
    return [Text("A copy of your job: check it, change what you like, then press Submit."), *copy.notices]
