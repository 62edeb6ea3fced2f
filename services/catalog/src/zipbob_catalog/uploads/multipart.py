"""Stream a multipart body to a temp file, refusing it as soon as a limit is passed.

Starlette's ``request.form()`` buffers first and checks later; here the byte count is
checked on every chunk, so a 2 GB body costs at most ``max_bytes`` of disk and no memory.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from zipbob_catalog.settings import UploadSettings
from zipbob_catalog.uploads.inspection import too_large
from zipbob_platform.problems import PROBLEM_BASE, Problem


@dataclass
class SpooledFile:
    path: Path
    size: int = 0
    filename: str | None = None


@dataclass
class MultipartForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, SpooledFile] = field(default_factory=dict)

    def discard(self) -> None:
        for spooled in self.files.values():
            with contextlib.suppress(FileNotFoundError):
                spooled.path.unlink()
        self.files.clear()


def decode_filename(raw: bytes | None) -> str | None:
    """Browsers send UTF-8, older clients Latin-1 or anything: never fail on a name we only
    display (the content type is sniffed from the bytes, never taken from the name)."""
    if not raw:
        return None
    return raw.decode("utf-8", "replace")[:255]


def bad_form(detail: str) -> Problem:
    return Problem(422, detail, type_=PROBLEM_BASE + "invalid-multipart")


class _FormBuilder:
    """The parser callbacks: collects text fields, spools file parts, enforces limits."""

    def __init__(self, limits: UploadSettings, file_fields: frozenset[str]) -> None:
        self.limits = limits
        self.file_fields = file_fields
        self.form = MultipartForm()
        self.error: Problem | None = None
        self._parts = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._name: str | None = None
        self._text = bytearray()
        self._file: SpooledFile | None = None
        self._handle: BinaryIO | None = None

    def on_part_begin(self) -> None:
        self._parts += 1
        self._disposition = b""
        self._name, self._file, self._text = None, None, bytearray()
        if self._parts > self.limits.max_parts:
            self.fail(bad_form(f"more than {self.limits.max_parts} form parts"))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name, self._header_value = b"", b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            self.fail(bad_form("a form part has no name"))
            return
        self._name = name
        if name in self.file_fields:
            if name in self.form.files:
                self.fail(bad_form(f"the file field {name!r} was sent twice"))
                return
            filename = options.get(b"filename")
            fd, raw_path = tempfile.mkstemp(prefix="zipbob-upload-", dir=self.limits.spool_dir)
            # Registered before anything else can raise, so discard() always finds it.
            self._file = self.form.files[name] = SpooledFile(
                Path(raw_path), filename=decode_filename(filename)
            )
            self._handle = os.fdopen(fd, "wb")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None or self._name is None:
            return
        chunk = data[start:end]
        if self._file is not None:
            self._file.size += len(chunk)
            if self._file.size > self.limits.max_bytes:
                self.fail(too_large(self.limits.max_bytes))
                return
            assert self._handle is not None  # opened with self._file
            self._handle.write(chunk)
        else:
            self._text += chunk
            if len(self._text) > self.limits.max_field_bytes:
                self.fail(bad_form(f"the field {self._name!r} is too long"))

    def on_part_end(self) -> None:
        self._close_file()
        if self.error is None and self._name is not None and self._file is None:
            try:
                self.form.fields[self._name] = self._text.decode("utf-8")
            except UnicodeDecodeError:
                self.fail(bad_form(f"the field {self._name!r} is not UTF-8 text"))

    def fail(self, problem: Problem) -> None:
        if self.error is None:
            self.error = problem
        self._close_file()

    def _close_file(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def callbacks(self) -> dict[str, object]:
        return {
            name: getattr(self, name)
            for name in (
                "on_part_begin",
                "on_part_data",
                "on_part_end",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
            )
        }


def multipart_boundary(content_type: str) -> bytes | None:
    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return options.get(b"boundary") or None


async def read_multipart(
    request: Request, *, limits: UploadSettings, file_fields: frozenset[str]
) -> MultipartForm:
    """The parsed form; the caller must ``discard()`` it. Raises 413/415/422 Problems."""
    boundary = multipart_boundary(request.headers.get("content-type", ""))
    if boundary is None:
        raise Problem(415, "expected multipart/form-data with a boundary")
    body_cap = limits.max_bytes + limits.max_parts * (limits.max_field_bytes + 1024)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > body_cap:
        raise too_large(limits.max_bytes)
    builder = _FormBuilder(limits, file_fields)
    parser = MultipartParser(boundary, builder.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > body_cap:
                builder.fail(too_large(limits.max_bytes))
            if builder.error is None:
                parser.write(chunk)
            if builder.error is not None:
                raise builder.error
        parser.finalize()
        if builder.error is not None:
            raise builder.error
    except MultipartParseError as exc:
        builder.form.discard()
        raise bad_form(f"malformed multipart body: {exc}") from None
    except Problem:
        builder.form.discard()
        raise
    except ClientDisconnect:
        builder.form.discard()
        raise Problem(400, "the client went away before the upload finished") from None
    except BaseException:
        builder.form.discard()  # a bug or a cancellation must not leave spool files behind
        raise
    finally:
        builder._close_file()
    return builder.form
