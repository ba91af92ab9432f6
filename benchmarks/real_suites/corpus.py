"""The proving ground's corpus: real projects pinned in ``manifest.toml``, their released
sources from the package index, and two virtual environments per project.

* ``plain``: the project and its test dependencies, nothing of optikit's: the suite as its
  authors run it.
* ``optikit``: a second environment that sees everything in ``plain`` (a ``.pth`` file) and adds
  optikit, installed editable from this checkout, so the figures are always for today's code.
  The difference between the two is exactly "optikit installed".

Everything downloaded or built lives under ``benchmarks/real_suites/.cache/`` (git-ignored) and
is reused between runs; a changed manifest entry rebuilds only its own project. The steps run
in copies under the system's temporary directory (``WORK``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CACHE = HERE / ".cache"
MANIFEST = HERE / "manifest.toml"
# Steps run in copies outside this repository: pytest looks for its config in every parent
# of a suite, and optikit's own pyproject.toml would become the config of a suite that has none.
WORK = Path(tempfile.gettempdir()) / "optikit-real-suites"
PIP_DOWNLOAD = [
    sys.executable,
    "-m",
    "pip",
    "download",
    "--quiet",
    "--no-deps",
    "--no-binary",
    ":all:",
]


@dataclass(frozen=True)
class Truth:
    """What a person established by hand about one test, and the command that shows it."""

    kind: str  # order_dependent | brittle | parallel_unsafe | failing | flaky
    victim: str
    culprits: tuple[str, ...] = ()  # polluters, or the state setter a brittle test needs
    reproduce: str = ""
    note: str = ""


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    covers: tuple[str, ...]
    requires: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()  # what to run, where the authors' config names nothing
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    timeout: int = 900
    truth: tuple[Truth, ...] = ()
    cassettes: str = ""  # a folder of LLM cassettes the release ships (the cassettes step)
    steps: tuple[str, ...] = ()  # when set, only these steps (and no environments if none run)

    @property
    def key(self) -> str:
        """Changes whenever what the environments are built from changes."""
        data = json.dumps([self.name, self.version, self.requires, self.env], sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:12]

    @property
    def home(self) -> Path:
        return CACHE / f"{self.name}-{self.version}"

    @property
    def source(self) -> Path:
        """The released source, unpacked; never run in (each step copies it)."""
        return self.home / "source"

    def python(self, flavour: str) -> Path:
        return self.home / flavour / "bin" / "python"


def load(path: Path = MANIFEST) -> list[Project]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    defaults = tuple(data.get("defaults", {}).get("requires", ()))
    projects = []
    for entry in data["project"]:
        truth = tuple(
            Truth(
                kind=t["kind"],
                victim=t["victim"],
                culprits=tuple(t.get("culprits", ())),
                reproduce=t.get("reproduce", ""),
                note=t.get("note", ""),
            )
            for t in entry.get("truth", ())
        )
        projects.append(
            Project(
                name=entry["name"],
                version=entry["version"],
                covers=tuple(entry.get("covers", ())),
                requires=defaults + tuple(entry.get("requires", ())),
                paths=tuple(entry.get("paths", ())),
                args=tuple(entry.get("args", ())),
                env=dict(entry.get("env", {})),
                timeout=int(entry.get("timeout", 900)),
                truth=truth,
                cassettes=entry.get("cassettes", ""),
                steps=tuple(entry.get("steps", ())),
            )
        )
    return projects


def _run(command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"{' '.join(command[:6])} ... exited {done.returncode}:\n{tail}")


def fetch(project: Project) -> Path:
    """The released sdist, downloaded once with pip and unpacked into ``source``."""
    if project.source.is_dir():
        return project.source
    downloads = CACHE / "sdists"
    downloads.mkdir(parents=True, exist_ok=True)
    spec = f"{project.name}=={project.version}"
    found = _sdist(downloads, project)
    if found is None:
        _run(
            [*PIP_DOWNLOAD, spec, "-d", str(downloads)]  # pip builds the sdist's metadata only
        )
        found = _sdist(downloads, project)
    if found is None:
        raise RuntimeError(f"pip downloaded no sdist for {spec} into {downloads}")
    unpacked = project.home / "unpack"
    shutil.rmtree(unpacked, ignore_errors=True)
    if found.suffix == ".zip":
        with zipfile.ZipFile(found) as archive:
            archive.extractall(unpacked)
    else:
        with tarfile.open(found) as archive:
            archive.extractall(unpacked, filter="data")
    (top,) = unpacked.iterdir()
    top.rename(project.source)
    unpacked.rmdir()
    return project.source


def _sdist(directory: Path, project: Project) -> Path | None:
    wanted = {project.name.lower().replace("-", "_"), project.name.lower()}
    for path in directory.iterdir():
        stem = path.name.removesuffix(".tar.gz").removesuffix(".zip")
        name, _, version = stem.rpartition("-")
        if name.lower().replace("-", "_") in wanted and version == project.version:
            return path
    return None


def environments(project: Project) -> None:
    """Build (or reuse) the ``plain`` and ``optikit`` environments of one project."""
    stamp = project.home / "venvs.key"
    if not (stamp.is_file() and stamp.read_text() == project.key):
        shutil.rmtree(project.home / "plain", ignore_errors=True)
        _run([sys.executable, "-m", "venv", str(project.home / "plain")])
        plain = str(project.python("plain"))
        # pytest-reportlog: every step reads outcomes and order from its log, not the terminal
        pip = [plain, "-m", "pip", "install", "--quiet"]
        _run(
            [*pip, str(project.source), "pytest-reportlog", *project.requires],
            project.source,
            project.env,
        )
        (project.home / "optikit.key").unlink(missing_ok=True)
        stamp.write_text(project.key)
    _optikit_environment(project)


def _optikit_key() -> str:
    """Changes when optikit's own dependencies change (the editable install sees its code)."""
    return hashlib.sha256((REPO / "pyproject.toml").read_bytes()).hexdigest()[:12]


def _optikit_environment(project: Project) -> None:
    """(Re)build the ``optikit`` environment when ``plain`` or optikit's dependencies changed:
    rebuilt, not upgraded, so a dependency optikit dropped is gone from it too."""
    stamp = project.home / "optikit.key"
    if stamp.is_file() and stamp.read_text() == _optikit_key():
        _link_optikit(project)
        return
    shutil.rmtree(project.home / "optikit", ignore_errors=True)
    _run([sys.executable, "-m", "venv", str(project.home / "optikit")])
    _link_optikit(project)
    optikit = str(project.python("optikit"))
    _run([optikit, "-m", "pip", "install", "--quiet", "-e", str(REPO), "detect-test-pollution"])
    stamp.write_text(_optikit_key())


def _link_optikit(project: Project) -> None:
    """The ``optikit`` environment sees ``plain``'s packages after its own."""
    site = _site_packages(project.python("optikit"))
    plain_site = _site_packages(project.python("plain"))
    (site / "_optikit_real_suites_plain.pth").write_text(f"{plain_site}\n")


def _site_packages(python: Path) -> Path:
    lib = python.parent.parent / "lib"
    (site,) = lib.glob("python3*/site-packages")
    return site


def workdir(project: Project, name: str) -> Path:
    return WORK / project.name / name


def scratch(project: Project, name: str) -> Path:
    """A fresh copy of the released source for one step to run in (and change)."""
    target = workdir(project, name)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(project.source, target, symlinks=True)
    return target
