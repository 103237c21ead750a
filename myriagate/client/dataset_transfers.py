"""Datasets into and out of file areas through the gateway (issue #17, docs/files.md): save a
directory of an area as a dataset, copy a dataset into a directory, follow either to its end.

Both are asynchronous on the gateway (the worker moves the bytes); ``wait_transfer`` polls the
record until it is completed or failed. Refusals come back as the gateway's problem details,
raised as ``MyriagateError`` subclasses (a region outside the policy: ``ResidencyViolation``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote
from uuid import UUID

from myriagate.client.file_change_calls import FileChangeCalls

if TYPE_CHECKING:
    from myriagate.web.api.transfer_schemas import DatasetTransferOut

FINAL_STATES = ("completed", "failed")


class DatasetTransferCalls(FileChangeCalls):
    """The dataset transfer calls of ``Client`` (mixed into it)."""

    def save_dataset(
        self,
        area: str,
        path: str,
        *,
        name: str,
        store: str,
        account: str | None = None,
        cluster: str | None = None,
    ) -> DatasetTransferOut:
        """Queue the save of ``area:path`` (a directory) to the endpoint ``store`` as a dataset."""
        from myriagate.web.api.transfer_schemas import DatasetTransferOut

        body = {"path": path, "name": name, "store": store, "account": account}
        response = self.request("POST", self._files_url(cluster, area, "datasets"), json=body)
        return self._model(DatasetTransferOut, response)

    def copy_dataset(
        self, dataset: UUID | str, area: str, path: str, *, replace: bool = False, cluster: str | None = None
    ) -> DatasetTransferOut:
        """Queue the copy of ``dataset`` into the directory ``area:path`` on its cluster."""
        from myriagate.web.api.transfer_schemas import DatasetTransferOut

        body = {"area": area, "path": path, "replace": replace, "cluster": cluster}
        response = self.request("POST", f"/datasets/{quote(str(dataset), safe='')}/copies", json=body)
        return self._model(DatasetTransferOut, response)

    def dataset_transfer(self, transfer: UUID | str) -> DatasetTransferOut:
        from myriagate.web.api.transfer_schemas import DatasetTransferOut

        response = self.request("GET", f"/dataset-transfers/{quote(str(transfer), safe='')}")
        return self._model(DatasetTransferOut, response)

    def wait_transfer(
        self,
        transfer: UUID | str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> DatasetTransferOut:
        """The transfer once completed or failed; ``TimeoutError`` after ``timeout_s``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        delay = min(poll_s, 0.5)
        while True:
            current = self.dataset_transfer(transfer)
            if current.state in FINAL_STATES:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"transfer {transfer} still {current.state} after {timeout_s} s")
            sleep(delay)
            delay = min(poll_s * 5, delay * 1.5)
