"""packaging/install_desktop.py run as a user would, against a temporary HOME and a fake built bundle."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "packaging" / "install_desktop.py"
PHOTO_TYPES = {"image/png", "image/jpeg", "image/webp", "image/tiff", "image/bmp", "image/gif"}


def make_bundle(folder: Path) -> Path:
    """A folder shaped like dist/contextfill: the GUI executable and the resources the spec bundles."""
    (folder / "_internal" / "resources" / "icons").mkdir(parents=True)
    gui = folder / "contextfill-gui"
    gui.write_text("#!/bin/sh\n")
    gui.chmod(0o755)
    (folder / "_internal" / "resources" / "contextfill.desktop").write_bytes(
        (ROOT / "resources" / "contextfill.desktop").read_bytes())
    (folder / "_internal" / "resources" / "icons" / "contextfill.svg").write_bytes(
        (ROOT / "resources" / "icons" / "contextfill.svg").read_bytes())
    return folder


def run(*args: str, home: Path, path: str) -> subprocess.CompletedProcess:
    """The script in a clean environment; `path` is PATH, empty so no desktop tool of this machine runs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), PATH=path)
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True,
                          check=True)


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


@pytest.fixture
def home(tmp_path) -> Path:
    folder = tmp_path / "home"
    (folder / ".local" / "share" / "applications").mkdir(parents=True)
    (folder / ".local" / "share" / "applications" / "other.desktop").write_text("[Desktop Entry]\nName=Other\n")
    (folder / ".config").mkdir()
    (folder / ".config" / "mimeapps.list").write_text("[Default Applications]\nimage/png=viewer.desktop\n")
    return folder


def test_install_writes_menu_entry_and_icon(tmp_path, home):
    bundle = make_bundle(tmp_path / "dist" / "contextfill")
    result = run("install", str(bundle), home=home, path="")

    desktop = home / ".local/share/applications/contextfill.desktop"
    icon = home / ".local/share/icons/hicolor/scalable/apps/contextfill.svg"
    assert f"installed {desktop}" in result.stdout and f"installed {icon}" in result.stdout
    entry = read_entry(desktop)
    assert entry["Exec"] == f"{bundle / 'contextfill-gui'} %f"
    assert entry["TryExec"] == str(bundle / "contextfill-gui")
    assert entry["Icon"] == "contextfill"
    assert entry["Type"] == "Application" and entry["Name"] == "ContextFill"
    assert set(filter(None, entry["MimeType"].split(";"))) == PHOTO_TYPES
    assert icon.read_bytes() == (ROOT / "resources/icons/contextfill.svg").read_bytes()
    # The user's default viewer is not taken over.
    assert (home / ".config/mimeapps.list").read_text() == "[Default Applications]\nimage/png=viewer.desktop\n"


def test_exec_quotes_a_bundle_path_with_spaces(tmp_path, home):
    bundle = make_bundle(tmp_path / "my apps" / "context$fill")
    run("install", str(bundle), home=home, path="")
    entry = read_entry(home / ".local/share/applications/contextfill.desktop")
    # Desktop-entry quoting (\$ inside quotes), then the string-level escape of the backslash.
    assert entry["Exec"] == '"' + str(bundle / "contextfill-gui").replace("$", "\\\\$") + '" %f'


def test_uninstall_removes_exactly_what_install_added(tmp_path, home):
    bundle = make_bundle(tmp_path / "dist" / "contextfill")
    before = {p: (home / p).read_bytes() for p in files_under(home)}

    run("install", str(bundle), home=home, path="")
    assert files_under(home) - set(before) == {
        Path(".local/share/applications/contextfill.desktop"),
        Path(".local/share/icons/hicolor/scalable/apps/contextfill.svg"),
    }
    result = run("uninstall", home=home, path="")

    assert "removed" in result.stdout
    assert {p: (home / p).read_bytes() for p in files_under(home)} == before
    assert "nothing to remove" in run("uninstall", home=home, path="").stdout


def test_prefix_and_xdg_data_home(tmp_path, home):
    bundle = make_bundle(tmp_path / "b")
    prefix = tmp_path / "prefix"
    run("install", str(bundle), "--prefix", str(prefix), home=home, path="")
    assert files_under(prefix) == {Path("applications/contextfill.desktop"),
                                   Path("icons/hicolor/scalable/apps/contextfill.svg")}
    assert not (home / ".local/share/icons").exists()
    run("uninstall", "--prefix", str(prefix), home=home, path="")
    assert files_under(prefix) == set()


def test_desktop_database_refreshed_when_present(tmp_path, home):
    tools = tmp_path / "bin"
    tools.mkdir()
    log = tmp_path / "calls.log"
    fake = tools / "update-desktop-database"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    fake.chmod(0o755)
    bundle = make_bundle(tmp_path / "dist" / "contextfill")

    run("install", str(bundle), home=home, path=str(tools))
    run("uninstall", home=home, path=str(tools))

    applications = home / ".local/share/applications"
    assert log.read_text().splitlines() == [f"-q {applications}", f"-q {applications}"]


@pytest.mark.skipif(not shutil.which("update-desktop-database"), reason="desktop-file-utils not installed")
def test_with_the_real_desktop_database(tmp_path, home):
    bundle = make_bundle(tmp_path / "dist" / "contextfill")
    tool_dir = str(Path(shutil.which("update-desktop-database")).parent)
    before = {p: (home / p).read_bytes() for p in files_under(home)}

    run("install", str(bundle), home=home, path=tool_dir)
    cache = (home / ".local/share/applications/mimeinfo.cache").read_text()
    assert all(f"{mime}=contextfill.desktop;" in cache for mime in PHOTO_TYPES)
    run("uninstall", home=home, path=tool_dir)

    assert {p: (home / p).read_bytes() for p in files_under(home)} == before


def test_install_refuses_a_missing_bundle(tmp_path, home):
    with pytest.raises(subprocess.CalledProcessError) as failure:
        run("install", str(tmp_path / "nowhere"), home=home, path="")
    assert "build the bundle first" in failure.value.stderr
    assert not (home / ".local/share/applications/contextfill.desktop").exists()
