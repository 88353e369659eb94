"""The media store: attached images and videos, in a local folder or an S3 bucket.

Keys are opaque strings made by core (`<workspace>/<sha256>.<ext>`); the same key names the
same bytes in both stores, so a deployment can move from the folder to S3 by copying files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,250}$")


class MediaMissing(KeyError):
    """No media is stored under this key."""


def _check(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"not a media key: {key!r}")
    return key


class LocalMediaStore:
    """Files under one folder (the embedded mode; `settings.media_dir`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        return self.folder / _check(key)

    def put(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers never see half a file
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise MediaMissing(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


class S3MediaStore:
    """An S3 bucket (or MinIO, or moto in tests) through boto3 with standard retries."""

    def __init__(self, bucket: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.bucket = bucket
        if client is None:
            import boto3
            from botocore.config import Config

            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                config=Config(
                    retries={"max_attempts": 5, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
        self.client = client

    def put(self, key: str, data: bytes, content_type: str) -> str:
        self.client.put_object(
            Bucket=self.bucket, Key=_check(key), Body=data, ContentType=content_type
        )
        return key

    def get(self, key: str) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=_check(key))
        except self.client.exceptions.NoSuchKey:
            raise MediaMissing(key) from None
        data: bytes = response["Body"].read()
        return data

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=_check(key))
