"""Where the data files live: a local directory or an object store.

The dataset writer needs five things from a place that keeps files: an output
stream for a new file, a way to make the written file visible whole, reading a
file back (to grow a day's file), a listing of what is there and deletion. A
local directory gets "visible whole" from a hidden temporary file, fsync and an
atomic rename. An object store gets it from the upload itself: an object
appears only once its PUT (or multipart upload) is complete, so objects are
written straight to their final name and nothing is renamed.

The state store always stays on a local disk (SQLite needs file locks and
in-place writes an object store does not offer): in the dataset's ``_state``
folder for a local dataset, in a separate local state directory for an object
store.
"""

from __future__ import annotations

import contextlib
import logging
import os
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from ..errors import ConfigurationError, DatasetError
from .schema import PARTITION_COLUMN
from .state import STATE_DIR

logger = logging.getLogger("ctera_audit.dataset")

DEFAULT_STATE_HOME = Path("~/.ctera-audit/state")
"""Parent of the default state directories of object-store datasets."""

_TEMPORARY_PREFIX = ".tmp-"


@dataclass(frozen=True)
class S3Options:
    """How to reach an S3-compatible object store; None fields come from the
    environment (``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_REGION``), then from
    the AWS SDK's usual chain (profile files, instance roles).
    """

    endpoint_url: str | None = None
    """Endpoint of a non-AWS store, e.g. ``http://127.0.0.1:9000`` for MinIO."""
    access_key: str | None = None
    """Access key id; given together with ``secret_key``."""
    secret_key: str | None = field(default=None, repr=False)
    """Secret access key; never shown in a repr."""
    region: str | None = None
    """Region of the bucket."""

    def resolved(self) -> S3Options:
        """These options with every gap filled from the environment."""
        environ = os.environ
        return S3Options(
            endpoint_url=self.endpoint_url
            or environ.get("AWS_ENDPOINT_URL_S3")
            or environ.get("AWS_ENDPOINT_URL"),
            access_key=self.access_key or environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=self.secret_key or environ.get("AWS_SECRET_ACCESS_KEY"),
            region=self.region
            or environ.get("AWS_REGION")
            or environ.get("AWS_DEFAULT_REGION"),
        )

    def filesystem(self) -> pafs.S3FileSystem:
        """An Arrow S3 filesystem with these options (resolve them first)."""
        options: dict[str, str] = {}
        if self.endpoint_url:
            endpoint = self.endpoint_url
            parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            options["endpoint_override"] = parts.netloc
            options["scheme"] = parts.scheme
        if self.access_key and self.secret_key:
            options["access_key"] = self.access_key
            options["secret_key"] = self.secret_key
        if self.region:
            options["region"] = self.region
        return pafs.S3FileSystem(**options)


class Storage(ABC):
    """A place for data files, addressed by paths relative to the dataset root.

    Attributes:
        location: the dataset as the user named it (a directory or a URI).
        state_dir: the local directory of the state store.
    """

    location: str
    state_dir: Path

    @abstractmethod
    def open_output(self, relative: str) -> pa.NativeFile:
        """Open a stream whose bytes will become file ``relative`` once published.

        Nothing is visible under ``relative`` before :meth:`publish`.
        """

    @abstractmethod
    def publish(self, relative: str, sink: pa.NativeFile) -> int:
        """Close ``sink`` and make its bytes durable and visible as ``relative``.

        Returns:
            The size of the published file in bytes.
        """

    @abstractmethod
    def abandon(self, relative: str, sink: pa.NativeFile) -> None:
        """Close ``sink`` and make sure nothing of it stays visible; never raises."""

    @abstractmethod
    def open_input(self, relative: str) -> pa.NativeFile:
        """Open a published file for reading."""

    @abstractmethod
    def list_files(self) -> list[str]:
        """Every file in the partition folders, unfinished temporary files included."""

    @abstractmethod
    def delete(self, relative: str) -> None:
        """Remove one file; a file already gone is not an error."""


def temporary_name(name: str) -> str:
    """The hidden name a file is written under before it is published locally."""
    return _TEMPORARY_PREFIX + name


def published_name(name: str) -> str:
    """The name a file will have once published (itself unless temporary)."""
    return name.removeprefix(_TEMPORARY_PREFIX)


class LocalStorage(Storage):
    """A dataset directory on a local (or mounted POSIX) filesystem.

    Args:
        root: the dataset directory, created if missing.
        state_dir: where the state store lives; ``ROOT/_state`` by default.
    """

    def __init__(self, root: Path, state_dir: Path | None = None) -> None:
        self.root = root.expanduser()
        self.location = str(self.root)
        self.state_dir = state_dir or self.root / STATE_DIR
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatasetError(
                f"cannot create the dataset folder {self.root} ({error.strerror}); "
                "check the --out path and its permissions"
            ) from error

    def open_output(self, relative: str) -> pa.NativeFile:
        """Open a hidden temporary file next to the final one."""
        final = self.root / relative
        final.parent.mkdir(parents=True, exist_ok=True)
        return pa.OSFile(str(final.with_name(temporary_name(final.name))), "wb")

    def publish(self, relative: str, sink: pa.NativeFile) -> int:
        """Close, fsync and rename the temporary file into place, then fsync its
        folder so the rename itself survives a power loss.
        """
        final = self.root / relative
        temporary = final.with_name(temporary_name(final.name))
        sink.close()
        fsync_path(temporary)
        os.replace(temporary, final)
        fsync_path(final.parent)
        return final.stat().st_size

    def abandon(self, relative: str, sink: pa.NativeFile) -> None:
        """Close and delete the temporary file."""
        final = self.root / relative
        with contextlib.suppress(OSError, pa.ArrowException):
            sink.close()
        with contextlib.suppress(OSError):
            final.with_name(temporary_name(final.name)).unlink(missing_ok=True)

    def open_input(self, relative: str) -> pa.NativeFile:
        """Map the file into memory."""
        return pa.memory_map(str(self.root / relative))

    def list_files(self) -> list[str]:
        """Files one level below the ``event_date=`` folders."""
        return [
            path.relative_to(self.root).as_posix()
            for path in self.root.glob(f"{PARTITION_COLUMN}=*/*")
        ]

    def delete(self, relative: str) -> None:
        """Unlink the file."""
        (self.root / relative).unlink(missing_ok=True)


class ObjectStorage(Storage):
    """A dataset under a prefix of an object store bucket.

    Objects are uploaded under their final names: the store shows an object only
    once its upload completes, so a reader never sees half a file, and a crash
    mid-upload leaves at most an unfinished multipart upload, which is invisible.

    Args:
        filesystem: the Arrow filesystem of the store.
        base: ``bucket/prefix`` within it, without a trailing slash.
        location: the URI the user gave, for messages.
        state_dir: the local directory of the state store.
    """

    def __init__(
        self, filesystem: pafs.FileSystem, base: str, location: str, state_dir: Path
    ) -> None:
        self.filesystem = filesystem
        self.base = base.rstrip("/")
        self.location = location
        self.state_dir = state_dir

    def open_output(self, relative: str) -> pa.NativeFile:
        """Start the upload of the object."""
        return self.filesystem.open_output_stream(f"{self.base}/{relative}")

    def publish(self, relative: str, sink: pa.NativeFile) -> int:
        """Finish the upload; the object becomes visible whole and durable."""
        size = sink.tell()
        sink.close()
        return size

    def abandon(self, relative: str, sink: pa.NativeFile) -> None:
        """Finish and delete the object.

        Arrow's Python API cannot abort an upload: closing (or dropping) the
        stream completes it, so the unwanted object is deleted right after. Until
        then it is an object of an uncommitted seq, which readers may briefly
        see and the next start-up removes if this delete fails.
        """
        with contextlib.suppress(OSError, pa.ArrowException):
            sink.close()
        with contextlib.suppress(OSError, pa.ArrowException):
            self.delete(relative)

    def open_input(self, relative: str) -> pa.NativeFile:
        """Open the object for random access reads."""
        return self.filesystem.open_input_file(f"{self.base}/{relative}")

    def list_files(self) -> list[str]:
        """Objects one level below the ``event_date=`` prefixes."""
        selector = pafs.FileSelector(self.base, recursive=True, allow_not_found=True)
        start = len(self.base) + 1
        files = []
        for info in self.filesystem.get_file_info(selector):
            relative = info.path[start:]
            if (
                info.type == pafs.FileType.File
                and relative.startswith(f"{PARTITION_COLUMN}=")
                and relative.count("/") == 1
            ):
                files.append(relative)
        return files

    def delete(self, relative: str) -> None:
        """Delete the object."""
        try:
            self.filesystem.delete_file(f"{self.base}/{relative}")
        except FileNotFoundError:
            return


def open_storage(
    out: str | Path,
    *,
    state_dir: str | Path | None = None,
    s3: S3Options | None = None,
) -> Storage:
    """The storage for a dataset named by a local path or an ``s3://`` URI.

    Args:
        out: a directory, ``file://`` URI or ``s3://bucket/prefix``.
        state_dir: local directory of the state store. Default: ``OUT/_state``
            for a local dataset; ``~/.ctera-audit/state/<endpoint, bucket and
            prefix, quoted>`` for an object store.
        s3: how to reach the object store; the environment by default.

    Raises:
        ConfigurationError: an unsupported URI scheme or an ``s3://`` URI
            without a bucket.
        DatasetError: the local dataset folder cannot be created.
    """
    explicit_state = Path(state_dir).expanduser() if state_dir is not None else None
    text = str(out)
    scheme = text.split("://", 1)[0].lower() if "://" in text else ""
    if isinstance(out, Path) or scheme in ("", "file"):
        root = Path(text.removeprefix("file://")) if scheme else Path(text)
        return LocalStorage(root, explicit_state)
    if scheme != "s3":
        raise ConfigurationError(
            f"cannot write a dataset to {text}: only local folders and s3:// URIs "
            "are supported; use s3://BUCKET/PREFIX for an S3-compatible store"
        )

    base = text[len("s3://") :].strip("/")
    if not base or "?" in base:
        raise ConfigurationError(
            f"{text} names no bucket or carries query options; write "
            "s3://BUCKET/PREFIX and give the endpoint and keys as options or "
            "AWS_* environment variables"
        )
    options = (s3 or S3Options()).resolved()
    try:
        filesystem = options.filesystem()
    except (OSError, pa.ArrowException) as error:
        raise ConfigurationError(
            f"cannot set up the S3 client for {text} ({error}); check the endpoint "
            "and the AWS_* environment variables"
        ) from error
    state = explicit_state or _default_state_dir(base, options)
    logger.debug("dataset %s keeps its state in %s", text, state)
    return ObjectStorage(filesystem, base, text, state)


def _default_state_dir(base: str, options: S3Options) -> Path:
    """One local state directory per endpoint, bucket and prefix.

    Quoting keeps the mapping one-to-one: two datasets never share a state
    store, which would let one's recovery delete the other's files.
    """
    endpoint = options.endpoint_url
    key = f"{urlsplit(endpoint).netloc or endpoint}/{base}" if endpoint else base
    return DEFAULT_STATE_HOME.expanduser() / quote(key, safe="")


def fsync_path(path: Path) -> None:
    """Flush a file, or a directory's entries (a rename into it), to disk."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
