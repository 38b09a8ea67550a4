"""Sending one queued extract: begin, then chunks from the server's offset, resuming after a
broken connection, a timeout or a 5xx, and after a 409 from the offset the server gives."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from rollsync_agent.logs import log
from rollsync_agent.queue import Queued
from rollsync_agent.server import DEFAULT_CHUNK, Server, ServerError, ServerUnreachable

ENV_RETRIES = "ROLLSYNC_AGENT_RETRIES"
ENV_RETRY_WAIT = "ROLLSYNC_AGENT_RETRY_WAIT"
MAX_WAIT = 60.0


class LicenceRefused(Exception):
    pass


class Rejected(Exception):
    """The server will never take this file (403, 413, 422): move it aside."""


class GaveUp(Exception):
    """The server could not be reached after every retry."""


def _env_number(name: str, default: float) -> float:
    try:
        return max(0.0, float(os.environ.get(name, default)))
    except ValueError:
        return default


@dataclass
class Sent:
    upload_id: str
    upload: int | None
    replayed: bool


class Uploader:
    def __init__(self, server: Server, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.server = server
        self.retries = int(_env_number(ENV_RETRIES, 5))
        self.wait = _env_number(ENV_RETRY_WAIT, 1.0)
        self.sleep = sleep

    def _refusal(self, exc: ServerError, name: str) -> Exception:
        if exc.status == 401:
            return LicenceRefused(
                "the licence key was refused: enter the one AutoUpdate Settings shows"
            )
        return Rejected(f"{name}: {exc.message}")

    def send(self, item: Queued) -> Sent:
        name = item.xml.name
        failures = conflicts = restarts = 0
        progress = -1  # the server's offset at the last failure

        def backoff(exc: Exception) -> None:
            nonlocal failures, progress
            # A connection that breaks now and then still gets a large file through:
            # the retries count afresh once the server's offset moved on.
            offset = int(state.get("offset") or 0) if state else -1
            if offset > progress:
                failures, progress = 0, offset
            failures += 1
            if failures > self.retries:
                raise GaveUp(str(exc))
            wait = min(MAX_WAIT, self.wait * 2 ** (failures - 1))
            log.info("%s: %s; retry %d of %d in %.1f s", name, exc, failures, self.retries, wait)
            self.sleep(wait)

        with open(item.xml, "rb") as fh:
            state: dict[str, Any] | None = None
            while True:
                try:
                    if state is None:
                        state = self.server.upload_begin(item.meta)
                        log.info(
                            "%s: upload %s at offset %s",
                            name,
                            state.get("id"),
                            state.get("offset", 0),
                        )
                    if state.get("state") == "stored":
                        return self._stored(name, state)
                    state = self._step(fh, item, state)
                except ServerUnreachable as exc:
                    backoff(exc)
                    state = self._where(state)
                except ServerError as exc:
                    if exc.transient:
                        backoff(exc)
                        state = self._where(state)
                    elif exc.status == 409 and state is not None and "offset" in exc.body:
                        log.info(
                            "%s: the server holds %s bytes; sending from there",
                            name,
                            exc.body["offset"],
                        )
                        state = {**state, "offset": int(exc.body["offset"])}
                        conflicts += 1
                        if conflicts > 10:
                            raise Rejected(
                                f"{name}: the server keeps refusing the offset"
                            ) from None
                    elif exc.status == 404 and state is not None and restarts < 2:
                        # The server forgot the upload (expired, or discarded): begin again.
                        restarts += 1
                        state = None
                    else:
                        raise self._refusal(exc, name) from None

    def _where(self, state: dict[str, Any] | None) -> dict[str, Any] | None:
        """After a broken exchange: where the upload stands (None: begin again)."""
        if state is None or not state.get("id"):
            return None
        try:
            return {**state, **self.server.upload_state(str(state["id"]))}
        except ServerError as exc:
            if exc.status == 404:
                return None
            if exc.transient:
                return state
            raise
        except ServerUnreachable:
            return state

    def _step(self, fh: BinaryIO, item: Queued, state: dict[str, Any]) -> dict[str, Any]:
        """Send the next chunk from the server's offset; the upload's state after it."""
        upload_id = str(state["id"])
        offset = int(state.get("offset") or 0)
        if offset >= int(item.meta["size"]):
            # Every byte is there but the answer was lost: ask.
            state = {**state, **self.server.upload_state(upload_id)}
            if state.get("state") != "stored":
                raise ServerUnreachable("the server has every byte but has not stored them")
            return state
        fh.seek(offset)
        data = fh.read(int(state.get("chunk_size") or DEFAULT_CHUNK))
        return {**state, **self.server.upload_chunk(upload_id, offset, data)}

    def _stored(self, name: str, state: dict[str, Any]) -> Sent:
        upload = state.get("upload")
        log.info(
            "%s: stored as upload %s%s",
            name,
            upload,
            " (already sent before)" if state.get("replayed") else "",
        )
        return Sent(
            str(state.get("id", "")),
            int(upload) if isinstance(upload, int) else None,
            bool(state.get("replayed")),
        )
