"""The GPU model cache in S3, synced with digests: a node loads only files whose SHA-256 it can check.

Two sources of truth for a file's digest:

- its **name**, where the store is content-addressed: Ollama's ``blobs/sha256-<hex>`` and the Hugging
  Face hub's ``blobs/<hex>`` (large files are stored under their SHA-256). A blob whose bytes do not
  hash to its own name is rejected whatever any manifest says;
- the **manifest** ``<prefix>/.unamentis-digests.json`` that the node writing the cache uploads last
  (``{"version": 1, "files": {relative path: {"sha256", "size"}}}``), for the files that are not
  content-addressed (Ollama's model manifests, the hub's refs and configs).

Restoring keeps only files that match a digest from one of those; a mismatch is deleted (the
registries fill the gap) and a file with no digest at all is not loaded. Only the GPU nodes' role may
write the cache prefix (the stack's bucket policy denies every other role), so a manifest can only
come from a node.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass
from typing import Dict, Optional

from .aws import S3Client

MANIFEST = ".unamentis-digests.json"
_OLLAMA_BLOB = re.compile(r"sha256[-:]([0-9a-f]{64})")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_address(rel: str) -> Optional[str]:
    """The SHA-256 a content-addressed file's name promises, or None for any other file."""
    parts = rel.split("/")
    name = parts[-1]
    match = _OLLAMA_BLOB.fullmatch(name)
    if match:
        return match.group(1)
    if len(parts) >= 2 and parts[-2] == "blobs" and _HEX64.fullmatch(name):
        return name
    return None


@dataclass
class Restored:
    downloaded: int = 0
    kept: int = 0  # already on disk with the right digest
    rejected: int = 0  # bytes that do not match their digest: deleted
    unverified: int = 0  # no digest anywhere: not loaded

    def __str__(self) -> str:
        return (f"{self.downloaded} file(s) downloaded, {self.kept} already present, {self.rejected} rejected "
                f"(digest mismatch), {self.unverified} skipped (no recorded digest)")


def _safe_rel(rel: str) -> bool:
    return bool(rel) and not rel.endswith("/") and not rel.startswith("/") and ".." not in rel.split("/")


def _read_manifest(s3: S3Client, bucket: str, key: str) -> Dict[str, str]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "manifest.json")
        s3.get_to_file(bucket, key, path)
        try:
            with open(path, encoding="utf-8") as f:
                files = json.load(f).get("files", {})
            return {rel: entry["sha256"] for rel, entry in files.items()
                    if isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and _HEX64.fullmatch(entry["sha256"])}
        except (ValueError, AttributeError, KeyError, TypeError):
            print(f"model cache: {key} is not a digest manifest; only content-addressed files are loaded", file=sys.stderr)
            return {}


def sync_down(s3: S3Client, bucket: str, prefix: str, directory: str) -> Restored:
    """Restore ``s3://bucket/prefix/`` into ``directory``, keeping only files whose digest checks."""
    prefix = prefix.rstrip("/") + "/"
    remote = s3.list(bucket, prefix)
    recorded = _read_manifest(s3, bucket, prefix + MANIFEST) if prefix + MANIFEST in remote else {}
    result = Restored()
    for key, size in sorted(remote.items()):
        rel = key[len(prefix):]
        if rel == MANIFEST or not _safe_rel(rel):
            continue
        named, listed = content_address(rel), recorded.get(rel)
        if named and listed and named != listed:
            print(f"model cache: {rel}: the manifest disagrees with the file's own name; not loaded", file=sys.stderr)
            result.rejected += 1
            continue
        want = named or listed
        if want is None:
            result.unverified += 1
            continue
        dest = os.path.join(directory, rel)
        if os.path.isfile(dest) and os.path.getsize(dest) == size and sha256_file(dest) == want:
            result.kept += 1
            continue
        s3.get_to_file(bucket, key, dest)
        if sha256_file(dest) != want:
            os.remove(dest)
            print(f"model cache: {rel}: SHA-256 does not match {want}; deleted", file=sys.stderr)
            result.rejected += 1
            continue
        result.downloaded += 1
    return result


def sync_up(s3: S3Client, directory: str, bucket: str, prefix: str) -> int:
    """Upload what the bucket lacks (or holds at another size), then the digest manifest of every file."""
    prefix = prefix.rstrip("/") + "/"
    remote = s3.list(bucket, prefix)
    files: Dict[str, Dict[str, object]] = {}
    n = 0
    for base, _dirs, names in os.walk(directory):
        for name in sorted(names):
            path = os.path.join(base, name)
            rel = os.path.relpath(path, directory).replace(os.sep, "/")
            if rel == MANIFEST or name.endswith(".part") or os.path.islink(path):
                continue
            files[rel] = {"sha256": sha256_file(path), "size": os.path.getsize(path)}
            if remote.get(prefix + rel) == files[rel]["size"]:
                continue
            s3.put_file(bucket, prefix + rel, path)
            n += 1
    with tempfile.TemporaryDirectory() as tmp:
        manifest = os.path.join(tmp, MANIFEST)
        with open(manifest, "w", encoding="utf-8") as f:
            json.dump({"version": 1, "files": files}, f, sort_keys=True)
        s3.put_file(bucket, prefix + MANIFEST, manifest)
    return n



