"""Fetch a published Sigma rule package into the user's data folder, safely.

``lotlhunt rules update`` downloads a SigmaHQ release package (by default
:data:`DEFAULT_URL`, the ``sigma_all_rules.zip`` of SigmaHQ's latest GitHub release), or
reads the URL or local zip the user names, and installs its rule files under
``<data folder>/rules/current``, which hunts then load beside the bundled pack. The set
it replaces is kept as ``previous`` (``rules update --rollback`` brings it back), and the
update says what changed, by rule id.

The archive comes from the network and is treated as hostile: the download and the
unpacked size are capped, so is the number of members; a member whose path is absolute,
climbs out of the folder (``..``), is a symbolic link or is encrypted rejects the whole
archive, before anything is written; a checksum is verified when one is given
(``--sha256``) or published beside the archive (``<url>.sha256``). Only ``http`` and
``https`` are fetched, redirects included, with a timeout. The new set is unpacked into a
staging folder and swapped in only when it is complete, so a failed update leaves the
installed rules as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from http.client import HTTPMessage
from pathlib import Path, PurePosixPath
from typing import IO, Any

from ..errors import LotlhuntError, UsageError
from .installed import MANIFEST, rules_home
from .installed import data_dir as data_dir  # where rule sets go, for callers of this module
from .installed import installed_rules as installed_rules

#: SigmaHQ's release package with every rule (they publish core, core+, core++,
#: emerging-threats and all-rules zips with each release).
DEFAULT_URL = "https://github.com/SigmaHQ/sigma/releases/latest/download/sigma_all_rules.zip"
RULE_SUFFIXES = (".yml", ".yaml")
_SHA256 = re.compile(r"\b([0-9a-fA-F]{64})\b")
_TOP_LEVEL_ID = re.compile(rb"^id:[ \t]*['\"]?([^\s'\"#]+)", re.MULTILINE)


class UpdateError(LotlhuntError):
    """The rule package could not be fetched, verified or installed; nothing changed."""


@dataclass(frozen=True)
class UpdateLimits:
    """Caps on what an update may fetch and unpack (SigmaHQ's all-rules package, late
    2026: about 4 MB zipped, 3,600 members, 15 MB unpacked; the caps leave room to grow
    while refusing a zip bomb)."""

    max_download: int = 100 * 2**20
    max_unpacked: int = 400 * 2**20
    max_members: int = 50_000
    max_member: int = 16 * 2**20
    timeout: float = 60.0


@dataclass
class RuleChanges:
    """What an update (or a rollback) changed, by rule id."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.added):,} added, {len(self.removed):,} removed, "
            f"{len(self.modified):,} modified, {self.unchanged:,} unchanged"
        )


@dataclass
class UpdateResult:
    """An installed rule set and how it differs from the one before."""

    source: str
    folder: Path
    sha256: str
    #: "given" (--sha256 matched), "published" (<url>.sha256 matched) or "none".
    checksum: str
    files: int
    #: Members that are not rule files (README, LICENSE...): not installed.
    skipped: int
    changes: RuleChanges


# -- fetching ------------------------------------------------------------------------


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only: never to ``file:``, ``ftp:`` or anything else."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        if not _is_http(newurl):
            raise UpdateError(f"refusing a redirect from {req.full_url} to {newurl[:200]!r}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _is_http(url: str) -> bool:
    return url.lower().startswith(("http://", "https://"))


def _opener() -> urllib.request.OpenerDirector:
    handlers: list[Any] = [
        urllib.request.ProxyHandler(),
        urllib.request.HTTPHandler(),
        urllib.request.HTTPSHandler(),
        _HttpOnlyRedirects(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.HTTPDefaultErrorHandler(),
    ]
    opener = urllib.request.OpenerDirector()
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def _download(url: str, out: IO[bytes], limits: UpdateLimits) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "lotlhunt-rules-update"})
    try:
        with _opener().open(request, timeout=limits.timeout) as response:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > limits.max_download:
                raise UpdateError(
                    f"{url}: {int(length):,} bytes announced, more than the "
                    f"{limits.max_download:,} allowed"
                )
            _copy_capped(response, out, limits.max_download, url)
    except urllib.error.HTTPError as exc:
        raise UpdateError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError, ValueError) as exc:
        if isinstance(exc, UpdateError):
            raise
        reason = getattr(exc, "reason", exc)
        raise UpdateError(f"{url}: cannot download: {reason}") from exc


def _copy_capped(src: Any, out: IO[bytes], cap: int, label: str) -> int:
    total = 0
    while chunk := src.read(1 << 16):
        total += len(chunk)
        if total > cap:
            raise UpdateError(f"{label}: larger than the {cap:,} bytes allowed")
        out.write(chunk)
    return total


def _published_checksum(source: str, limits: UpdateLimits) -> str | None:
    """The SHA-256 published beside the archive (``<source>.sha256``), if there is one."""
    text: str | None = None
    if _is_http(source):
        request = urllib.request.Request(
            source + ".sha256", headers={"User-Agent": "lotlhunt-rules-update"}
        )
        try:
            with _opener().open(request, timeout=limits.timeout) as response:
                text = response.read(4096).decode("ascii", "replace")
        except (urllib.error.URLError, OSError, ValueError, UpdateError):
            return None  # not published (404) or not reachable: nothing to verify against
    else:
        sidecar = Path(source + ".sha256")
        if sidecar.is_file():
            text = sidecar.read_bytes()[:4096].decode("ascii", "replace")
    match = _SHA256.search(text or "")
    return match.group(1).lower() if match else None


# -- checking and unpacking ------------------------------------------------------------


def _member_problem(info: zipfile.ZipInfo, limits: UpdateLimits) -> str | None:
    """Why ``info`` makes the archive unacceptable, or None."""
    name = info.filename
    if "\x00" in name:
        return "a NUL byte in its name"
    unix = name.replace("\\", "/")
    if unix.startswith("/") or re.match(r"^[A-Za-z]:", unix):
        return "an absolute path"
    if ".." in PurePosixPath(unix).parts:
        return "a path that climbs out of the folder"
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if info.flag_bits & 0x1:
        return "encryption"
    if info.file_size > limits.max_member:
        return f"{info.file_size:,} bytes, more than the {limits.max_member:,} allowed"
    return None


def check_archive(archive: zipfile.ZipFile, limits: UpdateLimits) -> list[zipfile.ZipInfo]:
    """The rule-file members of ``archive``; raises :class:`UpdateError` if any member,
    or the whole, breaks a limit (nothing has been written yet)."""
    infos = archive.infolist()
    if len(infos) > limits.max_members:
        raise UpdateError(f"{len(infos):,} members, more than the {limits.max_members:,} allowed")
    total = 0
    for info in infos:
        problem = _member_problem(info, limits)
        if problem is not None:
            raise UpdateError(f"member {info.filename[:200]!r} has {problem}")
        total += info.file_size
    if total > limits.max_unpacked:
        raise UpdateError(
            f"{total:,} bytes unpacked, more than the {limits.max_unpacked:,} allowed"
        )
    rules = [i for i in infos if not i.is_dir() and i.filename.lower().endswith(RULE_SUFFIXES)]
    if not rules:
        raise UpdateError("the archive holds no rule files (.yml, .yaml)")
    return rules


def _unpack(
    archive: zipfile.ZipFile, members: Iterable[zipfile.ZipInfo], dest: Path, limits: UpdateLimits
) -> dict[str, str]:
    """Write ``members`` under ``dest``; return rule id -> digest of the file holding it."""
    root = dest.resolve()
    index: dict[str, str] = {}
    written = 0
    for info in members:
        target = (root / info.filename.replace("\\", "/")).resolve()
        if root not in target.parents:  # checked already; never write outside regardless
            raise UpdateError(f"member {info.filename[:200]!r} resolves outside the folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        with archive.open(info) as src, open(target, "xb") as out:
            while chunk := src.read(1 << 16):
                written += len(chunk)
                if written > limits.max_unpacked:
                    raise UpdateError(f"more than {limits.max_unpacked:,} bytes unpacked")
                digest.update(chunk)
                out.write(chunk)
        content = target.read_bytes()
        rel = target.relative_to(root).as_posix()
        ids = [m.decode("utf-8", "replace") for m in _TOP_LEVEL_ID.findall(content)] or [rel]
        for rule_id in ids:
            index[rule_id.lower()] = digest.hexdigest()
    return index


def _manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def diff(old: Mapping[str, str], new: Mapping[str, str]) -> RuleChanges:
    """Rules added, removed and modified (their file changed) between two indexes."""
    changes = RuleChanges(
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
        modified=sorted(k for k in set(old) & set(new) if old[k] != new[k]),
    )
    changes.unchanged = len(set(old) & set(new)) - len(changes.modified)
    return changes


# -- the update --------------------------------------------------------------------------


def update_rules(
    source: str | None = None,
    sha256: str | None = None,
    *,
    base: Path | None = None,
    limits: UpdateLimits | None = None,
) -> UpdateResult:
    """Fetch ``source`` (an http(s) URL or a local zip; default :data:`DEFAULT_URL`),
    verify and install it as the current rule set, keeping the one before."""
    limits = limits or UpdateLimits()
    source = source or DEFAULT_URL
    if sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", sha256):
        raise UsageError("--sha256 takes 64 hexadecimal digits")
    if not _is_http(source):
        if "://" in source:
            raise UsageError(f"only http(s) URLs or local zip files can be read: {source}")
        if not Path(source).is_file():
            raise UsageError(f"no such file: {source}")
    home = rules_home(base)
    home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=home) as spool:
        if _is_http(source):
            _download(source, spool, limits)
        else:
            with open(source, "rb") as fh:
                _copy_capped(fh, spool, limits.max_download, source)
        spool.seek(0)
        digest = hashlib.sha256()
        while chunk := spool.read(1 << 16):
            digest.update(chunk)
        actual = digest.hexdigest()
        checksum = "none"
        expected = sha256.lower() if sha256 else _published_checksum(source, limits)
        if expected is not None:
            if expected != actual:
                raise UpdateError(f"checksum mismatch: expected {expected}, got {actual}")
            checksum = "given" if sha256 else "published"
        spool.seek(0)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=home))
        try:
            try:
                archive = zipfile.ZipFile(spool)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                raise UpdateError(f"{source}: not a zip archive ({exc})") from exc
            with archive:
                members = check_archive(archive, limits)
                try:
                    index = _unpack(archive, members, staging, limits)
                except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
                    raise UpdateError(f"{source}: damaged archive ({exc})") from exc
                skipped = sum(1 for i in archive.infolist() if not i.is_dir()) - len(members)
            manifest = {
                "source": source,
                "sha256": actual,
                "checksum": checksum,
                "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": len(members),
                "rules": index,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, sort_keys=True), "utf-8")
            old = _manifest(home / "current") or {}
            _swap_in(home, staging)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return UpdateResult(
        source=source,
        folder=home / "current",
        sha256=actual,
        checksum=checksum,
        files=len(members),
        skipped=skipped,
        changes=diff(old.get("rules", {}), index),
    )


def _swap_in(home: Path, staging: Path) -> None:
    """``staging`` becomes ``current``; the current set becomes ``previous``."""
    current, previous = home / "current", home / "previous"
    if current.exists():
        if previous.exists():
            shutil.rmtree(previous)
        current.rename(previous)
    staging.rename(current)


def rollback(base: Path | None = None) -> RuleChanges:
    """Swap the current and previous rule sets (a second rollback undoes the first)."""
    home = rules_home(base)
    current, previous = home / "current", home / "previous"
    if _manifest(previous) is None:
        raise UpdateError(f"no previous rule set to roll back to in {home}")
    new = (_manifest(previous) or {}).get("rules", {})
    old = (_manifest(current) or {}).get("rules", {})
    parked = home / ".rollback"
    if parked.exists():
        shutil.rmtree(parked)
    if current.exists():
        current.rename(parked)
    previous.rename(current)
    if parked.exists():
        parked.rename(previous)
    return diff(old, new)


def describe(base: Path | None = None) -> str:
    """One line on the installed set: where, from what, when (for ``rules update``)."""
    folder = installed_rules(base)
    if folder is None:
        return f"no rule set installed in {rules_home(base)}"
    m = _manifest(folder) or {}
    files = m.get("files")
    return (
        f"{files if isinstance(files, int) else '?'} rule files from {m.get('source', '?')} "
        f"(sha256 {str(m.get('sha256', '?'))[:16]}..., installed {m.get('installed_at', '?')}) "
        f"in {folder}"
    )
