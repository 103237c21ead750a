"""The submit form's values as the researcher's choices change: a template's own fields, a
cluster's own choices.

The template and the cluster are chosen in the form itself (the dropdowns are posted with
everything else), and the form also posts which template and cluster its fields were drawn
for (``shown_template``, ``shown_cluster``). When they differ, the researcher changed a
dropdown and the fields on the page belong to the previous choice. Then what the previous
template filled in (its parameters' defaults, its suggested sbatch options) makes way for the
new one's; what the researcher typed stays where the new template has the same field; and a
partition, account or storage endpoint the new cluster does not have is chosen again.
"""

from __future__ import annotations

from collections.abc import Sequence

from myriagate.domain.sbatch_options import table
from myriagate.profiles.models import ClusterProfile
from myriagate.services.jobs.templates import TemplateMeta
from myriagate.web.pages.staging_forms import store_choices
from myriagate.web.pages.submit_fields import CHECKED

PARAM_PREFIX = "param_"
SHOWN_TEMPLATE = "shown_template"
SHOWN_CLUSTER = "shown_cluster"


def template_defaults(meta: TemplateMeta | None) -> dict[str, str]:
    """The form fields ``meta`` fills in: its parameters' defaults and its sbatch options."""
    if meta is None:
        return {}
    filled = {PARAM_PREFIX + p.name: "" if p.default is None else str(p.default) for p in meta.parameters}
    for name, value in meta.sbatch.items():
        option = table.BY_NAME[name]  # the metadata loader checked the name
        is_flag = option.kind is not None and option.kind.api_type == "flag"
        filled[option.python_name] = CHECKED if is_flag else value
    return filled


def switch_template(values: dict[str, str], old: TemplateMeta | None, new: TemplateMeta | None) -> None:
    """``values`` (changed in place) drawn for ``new`` instead of ``old``."""
    before, after = template_defaults(old), template_defaults(new)
    for key in [k for k in values if k.startswith(PARAM_PREFIX) and k not in after]:
        del values[key]  # a parameter the new template does not have would be refused
    for key, default in before.items():
        if key in values and values[key] == default:
            values[key] = ""  # the old template's own value, not the researcher's
    for key, default in after.items():
        if not values.get(key, "").strip():
            values[key] = default
    values[SHOWN_TEMPLATE] = new.name if new is not None else ""


def template_switched(values: dict[str, str]) -> bool:
    """Whether the posted fields were drawn for another template than the one chosen (a form
    that does not say which, like a script's own POST, is taken as drawn for it)."""
    shown = values.get(SHOWN_TEMPLATE)
    return shown is not None and shown != values.get("template", "")


def fit_cluster(
    values: dict[str, str], profile: ClusterProfile, accounts: Sequence[str], allowed_regions: Sequence[str]
) -> None:
    """``values`` (changed in place) with choices ``profile`` offers: one of its partitions, one
    of the user's ``accounts`` there (the only one, if so), an endpoint in the allowed regions."""
    if values.get("partition") not in {p.name for p in profile.partitions}:
        values["partition"] = ""
    if values.get("account") not in accounts:
        values["account"] = accounts[0] if len(accounts) == 1 else ""
    allowed = [c.name for c in store_choices(profile, allowed_regions) if c.allowed]
    if values.get("store") not in allowed:
        values["store"] = allowed[0] if allowed else ""
    values[SHOWN_CLUSTER] = profile.name


def cluster_switched(values: dict[str, str]) -> bool:
    shown = values.get(SHOWN_CLUSTER)
    return shown is not None and shown != values.get("cluster", "")
