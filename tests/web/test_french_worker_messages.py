# ruff: noqa: F811 - fixtures imported by name come back as test parameters
"""Issue #15: French pages said the worker's and the adapters' messages in English, found by
hand: a checksum mismatch of staging ("job output: 'results/out.h5' arrived with sha256 …"),
paging's "the cursor is not one this gateway handed out", a waiting job's reason, the
cluster's partition descriptions. Every page is walked again, in French and as every role,
with data that makes those messages appear: a job whose results failed their checksum, a job
waiting with Slurm's reason, a cursor nobody handed out, the cluster page. Partition
descriptions are read too (the profiles say them in French: ``description_fr``)."""

from __future__ import annotations

import dataclasses
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from myriagate.ports import RemoteTree, StagedFile, TransferProgress
from myriagate.services.staging.context import StagingContext
from myriagate.services.staging.step import run_pending
from myriagate.wiring import Gateway
from tests.conftest import FakeClock
from tests.fakes.fake_slurm import FakeCluster, FakeSlurmBackendFactory
from tests.fakes.fake_stager import FakeStager
from tests.web.french_check import untranslated
from tests.web.pages_helpers import host_dir, page_csrf, staging_form, tick
from tests.web.test_translations_complete import (  # noqa: F401 - fixtures by name
    FRENCH,
    ROLES,
    page_paths,
    settings_overrides,
    shown,
    stager,
    staging_ctx,
)


@dataclasses.dataclass
class CorruptingStager:
    """The fake stager, except that what it reports as stored has another sha256 than what was
    sent: the storage side's copy is corrupt, which the gateway's own check must catch."""

    inner: FakeStager

    def upload(
        self,
        local_root: Path,
        files: Sequence[str],
        dest: RemoteTree,
        *,
        progress: TransferProgress | None = None,
    ) -> list[StagedFile]:
        stored = self.inner.upload(local_root, files, dest, progress=progress)
        return [dataclasses.replace(f, sha256="0" * 64) for f in stored]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _corrupted_results_job(
    client: TestClient, *, stager: FakeStager, ctx: StagingContext, fake_cluster: FakeCluster,
    backends: FakeSlurmBackendFactory, gateway: Gateway, clock: FakeClock,
) -> str:  # fmt: skip
    """A job whose results reach the storage endpoint with another checksum: it fails."""
    response = client.post(
        "/submit",
        data=staging_form(page_csrf(client, "/submit"), output_patterns="results/**", job_name="corrupt"),
    )
    assert response.status_code == 303, response.text
    job_id = response.headers["location"].rsplit("/", 1)[-1]
    assert run_pending(ctx) == 1  # the job's own directory, then sbatch
    work = host_dir(stager, 2222, f"/home/alice/myriagate-jobs/{job_id}")
    (work / "results").mkdir(parents=True, exist_ok=True)
    (work / "results" / "out.h5").write_bytes(b"\x89HDF corrupt on arrival")
    slurm_job_id = max(fake_cluster.jobs, key=int)
    fake_cluster.finish(slurm_job_id, "COMPLETED")
    tick(gateway, backends, clock)
    assert run_pending(dataclasses.replace(ctx, stager=CorruptingStager(stager))) == 1
    return str(job_id)


def _waiting_job(client: TestClient, fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory,
                 gateway: Gateway, clock: FakeClock) -> str:  # fmt: skip
    data = {"csrf_token": page_csrf(client, "/submit"), "mode": "script", "script": "#!/bin/bash\necho hi\n",
            "action": "submit", "partition": "debug", "time": "5", "account": "caen-climat",
            "job_name": "waits"}  # fmt: skip
    response = client.post("/submit", data=data)
    assert response.status_code == 303, response.text
    slurm_job_id = max(fake_cluster.jobs, key=int)
    fake_cluster.set_state(slurm_job_id, "PENDING", reason="QOSMaxJobsPerUserLimit")
    tick(gateway, backends, clock)
    return str(response.headers["location"]).rsplit("/", 1)[-1]


def test_the_workers_and_adapters_messages_are_french_on_every_page(
    app: FastAPI, shown: dict[str, Any], stager: FakeStager, staging_ctx: StagingContext,
    fake_cluster: FakeCluster, backends: FakeSlurmBackendFactory, gateway: Gateway, clock: FakeClock,
) -> None:  # fmt: skip
    researcher: TestClient = shown["clients"]["researcher"]
    corrupt = _corrupted_results_job(
        researcher, stager=stager, ctx=staging_ctx, fake_cluster=fake_cluster, backends=backends,
        gateway=gateway, clock=clock,
    )  # fmt: skip
    waiting = _waiting_job(researcher, fake_cluster, backends, gateway, clock)
    not_a_cursor = "bm90LWEtY3Vyc29y"  # base64 of "not-a-cursor"
    paths = [
        *page_paths(app, shown["ids"]), f"/jobs/{corrupt}", f"/jobs/{waiting}",
        f"/jobs?cursor={not_a_cursor}", f"/datasets?cursor={not_a_cursor}", "/jobs?state=failed",
        "/jobs?state=pending",
    ]  # fmt: skip
    problems: dict[str, list[str]] = {}
    for role in ROLES:
        client: TestClient = shown["clients"][role]
        for path in paths:
            page = client.get(path, headers=FRENCH)
            if not page.headers.get("content-type", "").startswith("text/html"):
                continue
            wrong = untranslated(page.text)  # partition descriptions too: the profiles say them in French
            if wrong:
                problems[f"{role} {path} ({page.status_code})"] = wrong
    assert not problems, "English on French pages:\n" + "\n".join(f"{k}: {v}" for k, v in problems.items())
    # The messages are there, said in French.
    failed = html.unescape(researcher.get(f"/jobs/{corrupt}", headers=FRENCH).text)
    said = "résultats du job : 'results/out.h5' est arrivé avec le sha256 " + "0" * 64 + " au lieu de"
    assert f"la copie des résultats a échoué : {said}" in failed  # the reason and the timeline
    assert f"Dernière erreur : {said}" in failed  # the staging plan's last error
    refused = researcher.get(f"/jobs?cursor={not_a_cursor}", headers=FRENCH)
    assert refused.status_code == 422
    assert "ce curseur n'a pas été donné par cette passerelle" in html.unescape(refused.text)
    cluster = researcher.get("/cluster", headers=FRENCH).text
    assert "Tests rapides (jusqu'à 30 minutes)" in html.unescape(cluster)  # the profile's description_fr
    waiting_page = researcher.get(f"/jobs/{waiting}", headers=FRENCH).text
    assert "QOSMaxJobsPerUserLimit" in waiting_page  # Slurm's code beside the French words
