"""The upload limit at the HTTP door (the web form and the JSON API alike): count each
file's bytes as the request is parsed and stop reading once one passes the limit, so a
300 MB file is neither held nor spooled whole. The view (or the API's error handler)
then answers with `refused_upload(request)`."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest

from rollsync.directory.services.uploads import too_large_message, upload_limit

_ATTRIBUTE = "rollsync_upload_refused"


class UploadLimitHandler(FileUploadHandler):
    """First of FILE_UPLOAD_HANDLERS: passes chunks on to the others until a file passes
    the limit, then stops the upload (the file is left out of request.FILES)."""

    def handle_raw_input(
        self,
        input_data: Any,
        META: Any,
        content_length: int,
        boundary: Any,
        encoding: str | None = None,
    ) -> None:
        self.request_length = content_length
        self.received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self.received += len(raw_data)
        if self.received > upload_limit():
            # The request's length is the best word on the file's size (a little more).
            size = self.request_length if self.request_length > upload_limit() else None
            if self.request is not None:
                setattr(self.request, _ATTRIBUTE, too_large_message(size))
            raise StopUpload(connection_reset=True)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None


def refused_upload(request: HttpRequest) -> str | None:
    """Why the request's file was refused while it arrived, or None. Reads the request's
    files first, so that parsing (and the handler) has run."""
    request.FILES  # noqa: B018 - parse the body, running the handler
    message = getattr(request, _ATTRIBUTE, None)
    return str(message) if message is not None else None
