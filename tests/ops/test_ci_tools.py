"""CI installs the outside tools the tests call and then requires them, and only those it has:
``.ci/tools`` (run with stub commands on a PATH of their own: no real apt-get runs here) and the
skip-or-fail rule of tests/toolenv.py (``LOSS_SERVICE_TEST_REQUIRE``)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests import toolenv

ROOT = Path(__file__).resolve().parents[2]
ALWAYS = ["tritonclient", "openapi-python-client", "kserve"]
# what a fake apt-get "installs": Debian package -> the command it brings
COMMANDS = {"chromium": "chromium", "nodejs": "node", "npm": "npm", "curl": "curl"}


def _stub(folder: Path, name: str, body: str = "exit 0") -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _ci_tools(tmp_path: Path, present: list[str], apt: str | None) -> tuple[list[str], str]:
    """Run .ci/tools with only ``present`` (commands) and, if given, an apt-get whose body is
    ``apt``, on the PATH; (the required tools it printed, its stderr)."""
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    for tool in ("mktemp", "tail", "rm"):
        (bin_ / tool).symlink_to(shutil.which(tool))
    for command in present:
        _stub(bin_, command)
    if apt is not None:
        _stub(bin_, "apt-get", apt)
    done = subprocess.run(["/bin/bash", ROOT / ".ci" / "tools"], capture_output=True, text=True,
                          env={"PATH": str(bin_)}, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(","), done.stderr


def test_without_apt_get_only_what_is_there_is_required(tmp_path):
    required, err = _ci_tools(tmp_path, ["chromium", "curl", "node"], apt=None)
    assert required == [*ALWAYS, "chromium", "curl"]  # node without npm is no use
    assert "cannot install npm: no apt-get here" in err


def test_nothing_is_installed_when_everything_is_there(tmp_path):
    calls = tmp_path / "apt-calls"
    required, err = _ci_tools(tmp_path, ["chromium", "node", "npm", "curl"],
                              apt=f'echo "$*" >> {calls}')
    assert required == [*ALWAYS, "chromium", "node", "curl"] and err == ""
    assert not calls.exists()


def test_apt_get_installs_what_is_missing_quietly(tmp_path):
    calls = tmp_path / "apt-calls"
    # records its arguments and the frontend; "install" puts the packages' commands on the PATH
    make = " ".join(f'[ "$p" = {p} ] && printf "#!/bin/bash\\n" > "${{0%/*}}/{c}" && '
                    f'/bin/chmod +x "${{0%/*}}/{c}";' for p, c in COMMANDS.items())
    apt = (f'echo "$DEBIAN_FRONTEND $*" >> {calls}\n'
           f'if [ "$1" = install ]; then for p in "$@"; do {make} true; done; fi\n'
           'echo "lots of progress output"')
    required, err = _ci_tools(tmp_path, ["curl"], apt=apt)
    if os.geteuid() != 0:  # apt-get is not even tried
        assert required == [*ALWAYS, "curl"] and "apt-get needs root" in err
        return
    assert calls.read_text().splitlines() == [
        "noninteractive update -qq",
        "noninteractive install -y -qq --no-install-recommends chromium nodejs npm"]
    assert required == [*ALWAYS, "chromium", "node", "curl"]
    assert err == "ci: installing chromium nodejs npm (apt-get)\n"  # the rest in a log


def test_a_failed_apt_get_is_said_and_not_required(tmp_path):
    required, err = _ci_tools(tmp_path, [], apt='echo "E: Unable to locate package" >&2; exit 100')
    if os.geteuid() != 0:
        assert "apt-get needs root" in err
    else:
        assert "E: Unable to locate package" in err
        assert "apt-get could not install chromium nodejs npm curl" in err
    assert required == ALWAYS


def test_ci_exports_what_tools_reports():
    run = (ROOT / ".ci" / "run").read_text()
    assert 'required="$(bash .ci/tools)"' in run
    assert 'export LOSS_SERVICE_TEST_REQUIRE="${LOSS_SERVICE_TEST_REQUIRE-$required}"' in run
    assert run.index(".ci/tools") < run.index("pytest")
    assert set(ALWAYS) | {"chromium", "node", "curl"} == set(toolenv.TOOLS)


def test_a_missing_tool_skips_unless_required(monkeypatch):
    monkeypatch.delenv(toolenv.REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="no browser"):
        toolenv.missing("chromium", "no browser")
    monkeypatch.setenv(toolenv.REQUIRE, "node, kserve")
    with pytest.raises(pytest.skip.Exception):
        toolenv.missing("chromium", "no browser")
    with pytest.raises(pytest.fail.Exception, match="requires kserve"):
        toolenv.missing("kserve", "no registry")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pytest.fail.Exception, match="node or nodejs is not installed"):
        toolenv.which("node", "node", "nodejs")


def test_a_cached_tool_is_built_once_and_a_failed_build_is_not_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(toolenv, "CACHE", tmp_path / "cache")
    monkeypatch.delenv(toolenv.REQUIRE, raising=False)
    pin = tmp_path / "requirements.txt"
    pin.write_text("a==1\n")
    built: list[Path] = []

    def build(folder: Path) -> str | None:
        built.append(folder)
        (folder / "tool").write_text("")
        return None

    first = toolenv.cached("kserve", "k", [pin], build)
    assert toolenv.cached("kserve", "k", [pin], build) == first and built == [first]
    pin.write_text("a==2\n")  # a new pin, a new build
    assert toolenv.cached("kserve", "k", [pin], build) != first and len(built) == 2
    pin.write_text("a==3\n")
    with pytest.raises(pytest.skip.Exception, match="no registry"):
        toolenv.cached("kserve", "k", [pin], lambda folder: "no registry")
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.is_dir()) == sorted(
        p.name for p in built)


@pytest.mark.parametrize(("require", "outcome"), [("", "1 skipped"), ("chromium", "1 failed"),
                                                  ("chromium,nodejs", "unknown tools")])
def test_the_browser_test_fails_without_chromium_where_required(require, outcome):
    """The whole path: the browser test, with no chromium on the PATH."""
    env = {**os.environ, "PATH": "/nonexistent", toolenv.REQUIRE: require,
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "-o", "addopts=", "tests/api/test_docs_ui.py::"
         "test_a_browser_without_network_sees_the_operations"],
        cwd=ROOT, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert outcome in done.stdout + done.stderr, done.stdout + done.stderr
