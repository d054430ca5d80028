"""Object storage against the filesystem and a loopback S3 server (moto in server mode)."""
from __future__ import annotations

import uuid

import pytest

from runtime.storage import (
    FileStore,
    S3Store,
    StorageConfig,
    StorageConfigError,
    StorageKeyError,
    check_key,
    open_store,
)

CREDS = {"UNAMENTIS_S3_ACCESS_KEY_ID": "testing", "UNAMENTIS_S3_SECRET_ACCESS_KEY": "testing"}


async def _roundtrip(store):
    key = "tenants/t1/curricula/c1/assets/img-1.png"
    assert await store.get(key) is None
    assert await store.exists(key) is False
    await store.put(key, b"\x89PNG first", "image/png")
    assert await store.exists(key) is True
    assert await store.get(key) == b"\x89PNG first"
    await store.put(key, b"second", "image/png")  # overwrite replaces
    assert await store.get(key) == b"second"
    await store.delete(key)
    assert await store.get(key) is None
    await store.delete(key)  # deleting a missing object is not an error
    for bad in ("../escape", "/abs", "a//b", "a/../b", "a\\b", "", "a/\x00"):
        with pytest.raises(StorageKeyError):
            await store.put(bad, b"x")


async def test_filesystem_roundtrip(tmp_path):
    store = open_store(f"file://{tmp_path}")
    assert isinstance(store, FileStore)
    await _roundtrip(store)
    # nothing was written outside the root, and no temp files are left behind
    assert not list(tmp_path.parent.glob("escape"))
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    await store.aclose()


async def test_s3_roundtrip_against_loopback_server(moto_endpoint):
    bucket = f"uma-{uuid.uuid4().hex[:12]}"
    env = {"UNAMENTIS_STORAGE_URL": f"s3://{bucket}/stack-a", "UNAMENTIS_S3_ENDPOINT_URL": moto_endpoint, **CREDS}
    store = open_store(StorageConfig.from_env(env))
    assert isinstance(store, S3Store)
    assert store.force_path_style is True and store.checksums == "when_required"
    client = await store._get_client()
    await client.create_bucket(Bucket=bucket)
    await _roundtrip(store)
    # the prefix isolates stacks sharing one bucket
    await store.put("k/one", b"1")
    listed = await client.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == ["stack-a/k/one"]
    other = open_store(StorageConfig.from_env({**env, "UNAMENTIS_STORAGE_URL": f"s3://{bucket}/stack-b"}))
    assert await other.get("k/one") is None
    await other.aclose()
    await store.aclose()


def test_config_errors_name_the_variable():
    with pytest.raises(StorageConfigError, match="UNAMENTIS_STORAGE_URL"):
        StorageConfig.from_env({"UNAMENTIS_STORAGE_URL": "ftp://x"})
    with pytest.raises(StorageConfigError, match="bucket"):
        StorageConfig.from_env({"UNAMENTIS_STORAGE_URL": "s3://"})
    with pytest.raises(StorageConfigError, match="UNAMENTIS_S3_SECRET_ACCESS_KEY"):
        StorageConfig.from_env({"UNAMENTIS_STORAGE_URL": "s3://b", "UNAMENTIS_S3_ACCESS_KEY_ID": "x"})
    with pytest.raises(StorageConfigError, match="UNAMENTIS_S3_FORCE_PATH_STYLE"):
        StorageConfig.from_env({"UNAMENTIS_S3_FORCE_PATH_STYLE": "maybe"})
    with pytest.raises(StorageConfigError, match="UNAMENTIS_S3_CHECKSUMS"):
        StorageConfig.from_env({"UNAMENTIS_S3_CHECKSUMS": "always"})
    # AWS proper: virtual-host style and default checksums
    aws = open_store(StorageConfig.from_env({"UNAMENTIS_STORAGE_URL": "s3://b/p"}))
    assert aws.force_path_style is False and aws.checksums == "when_supported" and aws.prefix == "p"
    assert check_key("a/b.c") == "a/b.c"
