"""``lotlhunt rules update``: fetch, verify, install, roll back, against a local server.

Every archive is made by the test and served by an ``http.server`` on 127.0.0.1 in a
thread; nothing reaches the network. Hostile archives (zip slip, absolute paths,
symbolic links, too large, too many members, bad checksum, not a zip) must be refused
before anything is written, and leave the installed rules as they were.
"""

from __future__ import annotations

import hashlib
import io
import stat
import sys
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from lotlhunt.cli import cli
from lotlhunt.errors import UsageError
from lotlhunt.hunt import HuntConfig, load_hunt_rules
from lotlhunt.rules import update as updates
from lotlhunt.rules.update import UpdateError, UpdateLimits, update_rules


def rule(n: int, marker: str = "tool") -> str:
    return (
        f"title: Rule {n}\nid: 00000000-0000-4000-8000-{n:012d}\nstatus: test\nlevel: high\n"
        "logsource:\n  product: windows\n  category: process_creation\n"
        f"detection:\n  sel:\n    Image|endswith: '\\\\{marker}{n}.exe'\n  condition: sel\n"
    )


def make_zip(members: dict[str, str | bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


class Server:
    """Routes path -> (status, headers, body), served on 127.0.0.1 in a thread."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        routes, requests = self.routes, self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                requests.append(self.path)
                status, headers, body = routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                if "Content-Length" not in headers:
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        self.routes[path] = (status, headers, body)
        return self.url(path)


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture(autouse=True)
def _private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOTLHUNT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("LOTLHUNT_DATA_DIR", str(tmp_path / "data"))


def installed_files(base: Path) -> list[str]:
    folder = base / "rules" / "current"
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.yml"))


V1 = {"rules/windows/a.yml": rule(1), "rules/windows/b.yml": rule(2), "README.md": "# sigma"}
V2 = {
    "rules/windows/a.yml": rule(1),  # unchanged
    "rules/windows/b.yml": rule(2, marker="other"),  # modified
    "rules/windows/c.yml": rule(3),  # added (and rule 2's old file... see V1)
}


def test_update_installs_and_hunts_load_it_by_default(server: Server, tmp_path: Path) -> None:
    url = server.serve("/sigma_all_rules.zip", make_zip(V1))
    result = update_rules(url)
    base = tmp_path / "data"
    assert result.folder == base / "rules" / "current"
    assert installed_files(base) == ["rules/windows/a.yml", "rules/windows/b.yml"]
    assert result.files == 2 and result.skipped == 1  # the README is not installed
    assert len(result.changes.added) == 2 and result.checksum == "none"
    assert result.sha256 == hashlib.sha256(make_zip(V1)).hexdigest()
    # The published checksum was looked for beside the archive.
    assert "/sigma_all_rules.zip.sha256" in server.requests

    ids = {r.id for r in load_hunt_rules(HuntConfig()).rules}
    assert {"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002"} <= ids
    # --no-default-rules turns the installed set off with the bundled pack.
    assert load_hunt_rules(HuntConfig(default_rules=False)).rules == []


def test_second_update_says_what_changed_and_rollback_restores(
    server: Server, tmp_path: Path
) -> None:
    update_rules(server.serve("/v1.zip", make_zip(V1)))
    second = update_rules(server.serve("/v2.zip", make_zip(V2)))
    changes = second.changes
    assert changes.added == ["00000000-0000-4000-8000-000000000003"]
    assert changes.modified == ["00000000-0000-4000-8000-000000000002"]
    assert changes.removed == [] and changes.unchanged == 1
    base = tmp_path / "data"
    assert (base / "rules" / "previous" / "rules" / "windows" / "a.yml").is_file()

    back = updates.rollback()
    assert back.removed == ["00000000-0000-4000-8000-000000000003"]
    assert back.modified == ["00000000-0000-4000-8000-000000000002"]
    assert installed_files(base) == ["rules/windows/a.yml", "rules/windows/b.yml"]
    # A second rollback undoes the first.
    updates.rollback()
    assert "rules/windows/c.yml" in installed_files(base)


def test_rollback_without_previous_set_fails(tmp_path: Path) -> None:
    with pytest.raises(UpdateError, match="no previous rule set"):
        updates.rollback()


def test_given_checksum_is_verified(server: Server) -> None:
    body = make_zip(V1)
    url = server.serve("/r.zip", body)
    good = hashlib.sha256(body).hexdigest()
    assert update_rules(url, sha256=good.upper()).checksum == "given"
    with pytest.raises(UpdateError, match="checksum mismatch"):
        update_rules(url, sha256="0" * 64)
    with pytest.raises(UsageError):
        update_rules(url, sha256="abc")


def test_published_checksum_is_verified(server: Server, tmp_path: Path) -> None:
    body = make_zip(V1)
    url = server.serve("/r.zip", body)
    server.serve("/r.zip.sha256", f"{hashlib.sha256(body).hexdigest()}  r.zip\n".encode())
    assert update_rules(url).checksum == "published"
    server.serve("/r.zip", make_zip(V2))  # the archive changed, the checksum did not
    with pytest.raises(UpdateError, match="checksum mismatch"):
        update_rules(url)
    assert installed_files(tmp_path / "data") == ["rules/windows/a.yml", "rules/windows/b.yml"]


@pytest.mark.parametrize(
    ("members", "symlinks", "message"),
    [
        ({"../evil.yml": rule(9)}, None, "climbs out"),
        ({"rules/../../evil.yml": rule(9)}, None, "climbs out"),
        ({"..\\evil.yml": rule(9)}, None, "climbs out"),
        ({"/tmp/evil.yml": rule(9)}, None, "absolute path"),
        ({"C:/evil.yml": rule(9)}, None, "absolute path"),
        ({"rules/ok.yml": rule(1)}, {"rules/link.yml": "/etc/passwd"}, "symbolic link"),
    ],
)
def test_hostile_member_paths_reject_the_archive(
    server: Server,
    tmp_path: Path,
    members: dict[str, str],
    symlinks: dict[str, str] | None,
    message: str,
) -> None:
    update_rules(server.serve("/good.zip", make_zip(V1)))
    url = server.serve("/bad.zip", make_zip({"rules/fine.yml": rule(5), **members}, symlinks))
    with pytest.raises(UpdateError, match=message):
        update_rules(url)
    base = tmp_path / "data"
    assert installed_files(base) == ["rules/windows/a.yml", "rules/windows/b.yml"]
    assert not list(tmp_path.rglob("evil.yml"))
    assert not list((base / "rules").glob(".staging-*"))


def test_too_many_members(server: Server) -> None:
    url = server.serve("/many.zip", make_zip({f"r/{i}.yml": rule(i) for i in range(30)}))
    with pytest.raises(UpdateError, match="30 members"):
        update_rules(url, limits=UpdateLimits(max_members=20))


def test_download_too_large_announced_or_not(server: Server) -> None:
    body = make_zip(V1)
    limits = UpdateLimits(max_download=len(body) - 1)
    with pytest.raises(UpdateError, match="announced"):
        update_rules(server.serve("/big.zip", body), limits=limits)
    # A server that lies about the length is stopped while reading.
    lying = server.serve("/lie.zip", body, **{"Content-Length": "10"})
    with pytest.raises(UpdateError):
        update_rules(lying, limits=UpdateLimits(max_download=5))


def test_zip_bomb_is_refused_before_unpacking(server: Server, tmp_path: Path) -> None:
    bomb = make_zip({"rules/bomb.yml": b"#" * 2_000_000})
    assert len(bomb) < 20_000
    with pytest.raises(UpdateError, match="unpacked"):
        update_rules(server.serve("/bomb.zip", bomb), limits=UpdateLimits(max_unpacked=1_000_000))
    with pytest.raises(UpdateError, match="more than"):
        update_rules(server.serve("/bomb.zip", bomb), limits=UpdateLimits(max_member=1_000_000))
    assert updates.installed_rules() is None


def test_not_a_zip_and_no_rules(server: Server) -> None:
    with pytest.raises(UpdateError, match="not a zip"):
        update_rules(server.serve("/page.zip", b"<html>rate limited</html>"))
    with pytest.raises(UpdateError, match="no rule files"):
        update_rules(server.serve("/empty.zip", make_zip({"README.md": "x"})))


def test_http_errors_and_redirects(server: Server) -> None:
    with pytest.raises(UpdateError, match="HTTP 404"):
        update_rules(server.url("/missing.zip"))
    good = server.serve("/real.zip", make_zip(V1))
    server.serve("/moved.zip", b"", status=302, Location=good)
    assert update_rules(server.url("/moved.zip")).files == 2
    # urllib itself refuses file:; ftp: it would follow, lotlhunt does not.
    server.serve("/sneaky.zip", b"", status=302, Location="file:///etc/passwd")
    with pytest.raises(UpdateError, match="not allowed"):
        update_rules(server.url("/sneaky.zip"))
    server.serve("/ftp.zip", b"", status=301, Location="ftp://127.0.0.1/r.zip")
    with pytest.raises(UpdateError, match="refusing a redirect"):
        update_rules(server.url("/ftp.zip"))


def test_local_zip_and_its_checksum_file(tmp_path: Path) -> None:
    path = tmp_path / "sigma_core.zip"
    path.write_bytes(make_zip(V1))
    assert update_rules(str(path)).checksum == "none"
    Path(str(path) + ".sha256").write_text("f" * 64 + "\n", "ascii")
    with pytest.raises(UpdateError, match="checksum mismatch"):
        update_rules(str(path))
    for bad in ("ftp://example.org/r.zip", "file:///etc/passwd", str(tmp_path / "absent.zip")):
        with pytest.raises(UsageError):
            update_rules(bad)


def test_data_dir_follows_the_environment(tmp_path: Path) -> None:
    assert updates.data_dir({"LOTLHUNT_DATA_DIR": "/x/y"}) == Path("/x/y")
    if sys.platform.startswith("linux"):
        assert updates.data_dir({"XDG_DATA_HOME": "/d"}) == Path("/d/lotlhunt")
        assert updates.data_dir({}) == Path.home() / ".local" / "share" / "lotlhunt"


def test_cli_update_and_rollback(server: Server) -> None:
    runner = CliRunner()
    v1 = server.serve("/v1.zip", make_zip(V1))
    out = runner.invoke(cli, ["rules", "update", "--from", v1])
    assert out.exit_code == 0, out.output
    assert "Installed 2 rule files" in out.output and "2 added" in out.output
    v2 = server.serve("/v2.zip", make_zip(V2))
    out = runner.invoke(cli, ["rules", "update", "--from", v2])
    assert "1 added, 0 removed, 1 modified, 1 unchanged" in out.output
    out = runner.invoke(cli, ["rules", "update", "--from", server.serve("/x.zip", b"junk")])
    assert out.exit_code == 1 and "unchanged" in out.output
    out = runner.invoke(cli, ["rules", "update", "--rollback"])
    assert out.exit_code == 0 and "Rolled back: 0 added, 1 removed, 1 modified" in out.output
    out = runner.invoke(cli, ["rules", "update", "--from", "ftp://example.org/r.zip"])
    assert out.exit_code == 2
