"""`netadapt-agent setup-arm`: everything the qemu-aarch64 backend needs, under one directory.

    ARM_DIR/rootfs/                 aarch64 Debian files: python3.11 and the libraries it needs
    ARM_DIR/rootfs/opt/netadapt/    site-packages (numpy, ai-edge-litert aarch64 wheels) and
                                    agent/ (guest_runner.py, model_inputs.py)
    ARM_DIR/cores/CORE/             one -L prefix per emulated core: links to rootfs/* and a
                                    proc/cpuinfo of that core (never the host's /proc)
    ARM_DIR/plugin/                 libnetadapt_insn_count.so, built from insn_count.c
    ARM_DIR/qemu-plugin-header/     qemu-plugin.h from Debian's qemu source package
    ARM_DIR/wheels/                 the downloaded wheels (kept: a rebuilt rootfs reuses them)
    ARM_DIR/setup.json              what each step was built from, and how long it took

Steps run in order; each one's key is what it was built from (including the keys of
the steps it depends on), and a step whose key matches setup.json and whose output
exists is skipped, so a second run does nothing but checks. A failing step raises
SetupError naming the step and what to do. Outputs are built beside their final place
and renamed in, so an interrupted step leaves the previous result or nothing.

The root filesystem needs no root privileges and no debootstrap: apt-get, with a private
configuration under ARM_DIR (arm64, an empty dpkg status, Debian's archive keyring),
resolves and downloads python3.11 + libstdc++6 and their dependencies (39 packages,
16 MB for bookworm), and dpkg-deb unpacks them. The plugin header is fetched the same
way (a private deb-src list, `apt-get source --download-only qemu=VERSION`, only the
one header kept), matching the installed qemu-user.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from device_agent.arm.cores import CORES, DEFAULT_CORE
from device_agent.text import one_line

ARM_DIR_ENV = "NETADAPT_ARM_DIR"
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
SUITE_PYTHON = {"bookworm": "3.11", "trixie": "3.13"}
ROOTFS_PACKAGES = ("libstdc++6",)  # + python3.X; LiteRT needs libstdc++, the rest comes as dependencies
# Debian bookworm has glibc 2.36: any manylinux tag up to 2_36 runs. Naming them all
# keeps pip from falling back to an old ai-edge-litert that has a manylinux2014 wheel.
WHEEL_PLATFORMS = tuple(f"manylinux_2_{minor}_aarch64" for minor in range(36, 16, -1)) + ("manylinux2014_aarch64",)
GUEST_OPT = "/opt/netadapt"
PLUGIN_NAME = "libnetadapt_insn_count.so"
PLUGIN_SOURCE = Path(__file__).with_name("insn_count.c")
GUEST_RUNNER = Path(__file__).with_name("guest_runner.py")
MODEL_INPUTS = Path(__file__).resolve().parents[1] / "backends" / "model_inputs.py"
CPUINFO_PROCESSORS = 1  # one core: the measured program runs one thread


class SetupError(RuntimeError):
    """A setup step failed; the message names the step and what to do."""


def default_arm_dir() -> Path:
    if os.environ.get(ARM_DIR_ENV):
        return Path(os.environ[ARM_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "netadapt" / "arm"


@dataclass(frozen=True)
class ArmLayout:
    """Where everything lives under ARM_DIR (see the module docstring)."""

    root: Path

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def site(self) -> Path:
        return self.rootfs / GUEST_OPT.lstrip("/") / "site-packages"

    @property
    def agent(self) -> Path:
        return self.rootfs / GUEST_OPT.lstrip("/") / "agent"

    @property
    def plugin(self) -> Path:
        return self.root / "plugin" / PLUGIN_NAME

    @property
    def header(self) -> Path:
        return self.root / "qemu-plugin-header" / "qemu-plugin.h"

    @property
    def state_path(self) -> Path:
        return self.root / "setup.json"

    def prefix(self, core: str) -> Path:
        return self.root / "cores" / core

    def state(self) -> dict:
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def python(self, core: str, state: dict | None = None) -> Path:
        version = (state or self.state()).get("python", SUITE_PYTHON[DEFAULT_SUITE])
        return self.prefix(core) / "usr" / "bin" / f"python{version}"

    def guest_path(self, host_path: Path) -> str:
        """/opt/netadapt/... as the emulated program sees a path under rootfs."""
        return "/" + str(host_path.relative_to(self.rootfs))

    def check(self, core: str) -> dict:
        """setup.json if everything the backend needs for `core` is in place; else SetupError."""
        state = self.state()
        missing = [
            str(path)
            for path in (self.python(core, state), self.prefix(core) / "proc" / "cpuinfo", self.plugin,
                         self.site / "ai_edge_litert", self.agent / GUEST_RUNNER.name)
            if not path.exists()
        ]
        if missing:
            raise SetupError(
                f"the Arm environment in {self.root} is not ready (missing {', '.join(missing)}); run "
                f"'netadapt-agent setup-arm --dir {self.root}'"
            )
        return state


@dataclass
class SetupOptions:
    suite: str = DEFAULT_SUITE
    mirror: str = DEFAULT_MIRROR
    security_mirror: str = DEFAULT_SECURITY_MIRROR
    numpy_version: str | None = None  # default: the host's
    litert_version: str | None = None  # default: the host's
    plugin_header: Path | None = None  # default: fetched from Debian's qemu source package
    verify: bool = True  # count the reference layer once at the end


@dataclass
class StepResult:
    name: str
    cached: bool
    seconds: float
    note: str = ""


@dataclass
class SetupReport:
    root: Path
    steps: list[StepResult] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(step.seconds for step in self.steps)

    def lines(self) -> list[str]:
        out = [f"Arm environment: {self.root}"]
        for step in self.steps:
            status = "cached" if step.cached else f"{step.seconds:.1f} s"
            out.append(f"  {step.name:<10} {status:>8}  {step.note}".rstrip())
        out.append(f"  total      {self.seconds:>6.1f} s")
        return out


# ---- small helpers ----------------------------------------------------------------------


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _run(command: list[str], what: str, timeout: float = 900, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd)
    except FileNotFoundError:
        raise SetupError(f"{what}: {command[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise SetupError(f"{what}: timed out after {timeout:.0f} s ({' '.join(command[:3])} ...)") from None
    if done.returncode != 0:
        tail = one_line(done.stderr or done.stdout)[-600:]
        raise SetupError(f"{what}: {Path(command[0]).name} exited with {done.returncode}: {tail}")
    return done.stdout


def _replace_dir(new: Path, final: Path) -> None:
    """Put `new` where `final` was; the old one is removed after the rename."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists() or final.is_symlink():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def host_distribution_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def qemu_version(qemu: str) -> str:
    """E.g. "7.2.22" from `qemu-aarch64 --version`."""
    out = _run([qemu, "--version"], "qemu-aarch64 --version", timeout=30)
    match = re.search(r"version\s+(\d+\.\d+(?:\.\d+)?)", out)
    if not match:
        raise SetupError(f"cannot read the version of {qemu}: {one_line(Exception(out))}")
    return match.group(1)


def find_qemu() -> str:
    qemu = shutil.which("qemu-aarch64")
    if qemu is None:
        raise SetupError("qemu-aarch64 is not on PATH: apt-get install qemu-user (Debian 12: QEMU 7.2)")
    usage = subprocess.run([qemu, "-h"], capture_output=True, text=True, timeout=30).stdout
    if "-plugin" not in usage:
        raise SetupError(
            f"{qemu} cannot load plugins (a static build?): install Debian's dynamic qemu-user "
            "(apt-get install qemu-user); qemu-user-static has no -plugin"
        )
    return qemu


# ---- private apt configuration ----------------------------------------------------------


class PrivateApt:
    """apt-get with its own sources, lists, cache and an empty dpkg status under `root`:
    the host's apt configuration and package database are never touched."""

    def __init__(self, root: Path, sources: list[str], arch: str | None) -> None:
        self.root = _fresh_dir(root)
        for sub in ("lists/partial", "cache/archives/partial", "etc/preferences.d", "etc/parts"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "status").write_text("")
        (root / "etc" / "sources.list").write_text("\n".join(sources) + "\n")
        options = {
            "Dir::Etc::SourceList": root / "etc" / "sources.list",
            "Dir::Etc::SourceParts": root / "etc" / "parts",
            "Dir::Etc::Preferences": root / "etc" / "preferences",
            "Dir::Etc::PreferencesParts": root / "etc" / "preferences.d",
            "Dir::State::Lists": root / "lists",
            "Dir::State::status": root / "status",
            "Dir::Cache": root / "cache",
            "Debug::NoLocking": "1",
        }
        if arch:
            options["APT::Architecture"] = arch
            options["APT::Architectures::"] = arch
        if os.geteuid() == 0:
            options["APT::Sandbox::User"] = "root"  # our files are root's; _apt could not write them
        self.options = [arg for key, value in options.items() for arg in ("-o", f"{key}={value}")]
        apt_get = shutil.which("apt-get")
        if apt_get is None:
            raise SetupError("apt-get is not on PATH: setup-arm builds the root filesystem from Debian packages")
        self.apt_get = apt_get

    def run(self, *args: str, what: str, cwd: Path | None = None) -> str:
        return _run([self.apt_get, *self.options, "-q", *args], what, cwd=cwd)

    @property
    def archives(self) -> Path:
        return self.root / "cache" / "archives"


def _debian_sources(kind: str, options: SetupOptions, arch: str | None) -> list[str]:
    if not KEYRING.exists():
        raise SetupError(f"{KEYRING} is missing: apt-get install debian-archive-keyring")
    attrs = f"[{'arch=' + arch + ' ' if arch else ''}signed-by={KEYRING}]"
    return [
        f"{kind} {attrs} {options.mirror} {options.suite} main",
        f"{kind} {attrs} {options.mirror} {options.suite}-updates main",
        f"{kind} {attrs} {options.security_mirror} {options.suite}-security main",
    ]


# ---- the steps ----------------------------------------------------------------------------


class ArmSetup:
    def __init__(self, root: Path, options: SetupOptions | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.layout = ArmLayout(Path(root).expanduser().resolve())
        self.options = options or SetupOptions()
        self.progress = progress or (lambda message: None)
        if self.options.suite not in SUITE_PYTHON:
            raise SetupError(f"unsupported suite {self.options.suite!r}; known: {', '.join(SUITE_PYTHON)}")
        self.python_version = SUITE_PYTHON[self.options.suite]

    def run(self) -> SetupReport:
        root = self.layout.root
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SetupError(f"cannot create {root}: {one_line(exc)}") from None
        with open(root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # two setups of one directory take turns
            return self._run_steps()

    def _run_steps(self) -> SetupReport:
        report = SetupReport(self.layout.root)
        state = self.layout.state()
        steps = state.setdefault("steps", {})
        state["complete"] = False
        self.qemu = find_qemu()
        state["qemu_version"] = qemu_version(self.qemu)
        plan: list[tuple[str, Callable[[], str], Callable[[dict], str | None], Callable[[], bool]]] = [
            ("rootfs", self._rootfs_key, self._build_rootfs,
             lambda: (self.layout.rootfs / "usr" / "bin" / f"python{self.python_version}").exists()),
            ("wheels", lambda: self._wheels_key(steps), self._install_wheels,
             lambda: (self.layout.site / "ai_edge_litert").is_dir()),
            ("agent", lambda: self._agent_key(steps), self._copy_agent,
             lambda: (self.layout.agent / GUEST_RUNNER.name).exists()),
            ("cores", lambda: self._cores_key(steps), self._build_cores,
             lambda: all((self.layout.prefix(c) / "proc" / "cpuinfo").exists() for c in CORES)),
            ("header", lambda: self._header_key(state), self._fetch_header, lambda: self.layout.header.exists()),
            ("plugin", lambda: self._plugin_key(steps), self._build_plugin, lambda: self.layout.plugin.exists()),
            ("verify", lambda: _digest([steps.get(s, {}).get("key") for s in ("agent", "cores", "plugin")], state["qemu_version"]),
             self._verify, lambda: True),
        ]
        state["python"] = self.python_version
        for name, key_of, build, exists in plan:
            if name == "verify" and not self.options.verify:
                continue
            key = key_of()
            previous = steps.get(name, {})
            if previous.get("key") == key and exists():
                report.steps.append(StepResult(name, True, 0.0, previous.get("note", "")))
                continue
            self.progress(f"setup-arm: {name} ...")
            started = time.monotonic()
            try:
                note = build(state) or ""
            except SetupError as exc:
                self._save(state)
                raise SetupError(f"setup-arm step '{name}' failed: {exc}") from None
            except OSError as exc:
                self._save(state)
                raise SetupError(f"setup-arm step '{name}' failed: {one_line(exc)}") from None
            seconds = time.monotonic() - started
            steps[name] = {"key": key, "seconds": round(seconds, 2), "note": note}
            self._save(state)
            report.steps.append(StepResult(name, False, seconds, note))
            self.progress(f"setup-arm: {name} done in {seconds:.1f} s {note}".rstrip())
        state["complete"] = True
        self._save(state)
        return report

    def _save(self, state: dict) -> None:
        tmp = self.layout.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        tmp.replace(self.layout.state_path)

    # -- rootfs

    def _packages(self) -> list[str]:
        return [f"python{self.python_version}", *ROOTFS_PACKAGES]

    def _rootfs_key(self) -> str:
        o = self.options
        return _digest("rootfs", o.suite, o.mirror, o.security_mirror, self._packages())

    def _build_rootfs(self, state: dict) -> str:
        if shutil.which("dpkg-deb") is None:
            raise SetupError("dpkg-deb is not on PATH (Debian's dpkg package)")
        apt = PrivateApt(self.layout.root / "apt", _debian_sources("deb", self.options, "arm64"), "arm64")
        try:
            apt.run("update", what=f"apt-get update (arm64 {self.options.suite} from {self.options.mirror})")
            apt.run("install", "-y", "--download-only", "--no-install-recommends", *self._packages(),
                    what=f"downloading {' '.join(self._packages())} for arm64")
            debs = sorted(apt.archives.glob("*.deb"))
            if not debs:
                raise SetupError("apt-get downloaded no packages")
            new = _fresh_dir(self.layout.root / "rootfs.new")
            for deb in debs:
                _run(["dpkg-deb", "-x", str(deb), str(new)], f"unpacking {deb.name}")
            python = new / "usr" / "bin" / f"python{self.python_version}"
            if not python.exists():
                raise SetupError(f"the unpacked packages have no {python.relative_to(new)}")
            _replace_dir(new, self.layout.rootfs)
            size = sum(deb.stat().st_size for deb in debs)
        finally:
            shutil.rmtree(apt.root, ignore_errors=True)  # lists and .debs: the rootfs is the cache
        return f"{len(debs)} packages, {size / 1e6:.0f} MB downloaded"

    # -- wheels

    def _versions(self) -> tuple[str, str]:
        numpy = self.options.numpy_version or host_distribution_version("numpy")
        litert = self.options.litert_version or host_distribution_version("ai-edge-litert")
        if not numpy or not litert:
            raise SetupError("cannot tell which numpy/ai-edge-litert to install: pass --numpy-version and --litert-version")
        return numpy, litert

    def _wheels_key(self, steps: dict) -> str:
        return _digest("wheels", steps.get("rootfs", {}).get("key"), self._versions(), self.python_version, WHEEL_PLATFORMS)

    def _install_wheels(self, state: dict) -> str:
        numpy, litert = self._versions()
        cache = self.layout.root / "wheels"
        cache.mkdir(parents=True, exist_ok=True)
        tag = "cp" + self.python_version.replace(".", "")
        wanted = {"numpy": numpy, "ai_edge_litert": litert}
        found = {name: self._cached_wheel(cache, name, version, tag) for name, version in wanted.items()}
        missing = [f"{name.replace('_', '-')}=={wanted[name]}" for name, path in found.items() if path is None]
        if missing:
            platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
            _run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                  "--only-binary=:all:", "--no-deps", "--python-version", self.python_version,
                  "--implementation", "cp", "--abi", tag, *platforms, "-d", str(cache), *missing],
                 f"pip download of the aarch64 wheels {' '.join(missing)}")
            found = {name: self._cached_wheel(cache, name, version, tag) for name, version in wanted.items()}
        wheels = [wheel for wheel in found.values() if wheel is not None]
        if len(wheels) < len(found):
            raise SetupError(f"pip did not produce aarch64 {tag} wheels for {' '.join(missing)}")
        import zipfile

        new = _fresh_dir(self.layout.site.with_name("site-packages.new"))
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(new)
        _replace_dir(new, self.layout.site)
        state["numpy_version"], state["litert_version"] = numpy, litert
        return f"numpy {numpy}, ai-edge-litert {litert}"

    @staticmethod
    def _cached_wheel(cache: Path, name: str, version: str, tag: str) -> Path | None:
        matches = sorted(cache.glob(f"{name}-{version}-{tag}-{tag}-*aarch64*.whl"))
        return matches[-1] if matches else None

    # -- agent code

    def _agent_key(self, steps: dict) -> str:
        return _digest("agent", steps.get("wheels", {}).get("key"), _file_digest(GUEST_RUNNER), _file_digest(MODEL_INPUTS))

    def _copy_agent(self, state: dict) -> str:
        copy_agent_code(self.layout)
        return f"{GUEST_RUNNER.name}, {MODEL_INPUTS.name}"

    # -- per-core prefixes

    def _cores_key(self, steps: dict) -> str:
        return _digest("cores", steps.get("rootfs", {}).get("key"),
                       {name: core.cpuinfo(CPUINFO_PROCESSORS) for name, core in CORES.items()})

    def _build_cores(self, state: dict) -> str:
        entries = sorted(p.name for p in self.layout.rootfs.iterdir() if p.name != "proc")
        for name, core in CORES.items():
            final = self.layout.prefix(name)
            new = _fresh_dir(final.with_name(name + ".new"))
            for entry in entries:
                (new / entry).symlink_to(Path("..") / ".." / "rootfs" / entry)
            (new / "proc").mkdir()
            (new / "proc" / "cpuinfo").write_text(core.cpuinfo(CPUINFO_PROCESSORS))
            _replace_dir(new, final)
        return ", ".join(CORES)

    # -- plugin header and plugin

    def _header_key(self, state: dict) -> str:
        if self.options.plugin_header is not None:
            return _digest("header-file", _file_digest(self.options.plugin_header))
        return _digest("header-apt", qemu_source_version(), state["qemu_version"])

    def _fetch_header(self, state: dict) -> str:
        target = self.layout.header
        target.parent.mkdir(parents=True, exist_ok=True)
        if self.options.plugin_header is not None:
            source = Path(self.options.plugin_header)
            if "QEMU_PLUGIN_VERSION" not in source.read_text(errors="replace"):
                raise SetupError(f"{source} is not QEMU's qemu-plugin.h (no QEMU_PLUGIN_VERSION)")
            shutil.copyfile(source, target)
            return f"from {source}"
        version = qemu_source_version()
        apt = PrivateApt(self.layout.root / "apt-src", _debian_sources("deb-src", self.options, None), None)
        try:
            apt.run("update", what="apt-get update (Debian source lists)")
            download = apt.root / "download"
            download.mkdir()
            try:
                apt.run("source", "--download-only", f"qemu={version}" if version else "qemu",
                        what=f"apt-get source qemu={version}", cwd=download)
            except SetupError:
                if not version:
                    raise
                # The exact version is gone from the mirror (a newer point release): the
                # plugin API of one QEMU release series is the same.
                apt.run("source", "--download-only", "qemu", what="apt-get source qemu", cwd=download)
            tarballs = sorted(download.glob("qemu_*.orig.tar.*"))
            if not tarballs:
                raise SetupError("apt-get source qemu downloaded no .orig tarball")
            _run(["tar", "-xf", str(tarballs[0]), "--wildcards", "*/include/qemu/qemu-plugin.h"],
                 f"extracting qemu-plugin.h from {tarballs[0].name}", cwd=download)
            headers = list(download.glob("*/include/qemu/qemu-plugin.h"))
            if not headers:
                raise SetupError(f"{tarballs[0].name} has no include/qemu/qemu-plugin.h")
            shutil.copyfile(headers[0], target)
            note = f"from {tarballs[0].name}"
        finally:
            shutil.rmtree(apt.root, ignore_errors=True)
        return note

    def _plugin_key(self, steps: dict) -> str:
        return _digest("plugin", steps.get("header", {}).get("key"), _file_digest(PLUGIN_SOURCE), compiler_version())

    def _build_plugin(self, state: dict) -> str:
        compiler = shutil.which("gcc") or shutil.which("cc")
        if compiler is None:
            raise SetupError("no C compiler: apt-get install gcc")
        target = self.layout.plugin
        target.parent.mkdir(parents=True, exist_ok=True)
        new = target.with_name(target.name + ".new")
        _run([compiler, "-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-I", str(self.layout.header.parent),
              "-o", str(new), str(PLUGIN_SOURCE)], f"compiling {PLUGIN_SOURCE.name}")
        new.replace(target)
        return f"{Path(compiler).name}, {target.stat().st_size // 1024} KiB"

    # -- end-to-end check

    def _verify(self, state: dict) -> str:
        from device_agent.backends.qemu_aarch64 import QemuAarch64Backend
        from device_agent.backends.reference_layer import REFERENCE_DESCRIPTION, reference_model

        backend = QemuAarch64Backend(cpu=DEFAULT_CORE, arm_dir=self.layout.root)
        (result,) = backend.measure_many([reference_model()])
        if not result.ok:
            raise SetupError(f"counting the reference layer on {DEFAULT_CORE} failed: {result.error}")
        return f"{REFERENCE_DESCRIPTION} on {DEFAULT_CORE}: {int(result.value):,} instructions"


def copy_agent_code(layout: ArmLayout) -> bool:
    """Put the guest runner and its helper in the rootfs; True if anything changed."""
    changed = False
    layout.agent.mkdir(parents=True, exist_ok=True)
    for source in (GUEST_RUNNER, MODEL_INPUTS):
        target = layout.agent / source.name
        data = source.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            with tempfile.NamedTemporaryFile(dir=layout.agent, delete=False) as tmp:
                tmp.write(data)
            os.replace(tmp.name, target)
            changed = True
    return changed


def qemu_source_version() -> str | None:
    """The Debian source version of the installed qemu-user (e.g. 1:7.2+dfsg-7+deb12u18)."""
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${source:Version}", "qemu-user"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def compiler_version() -> str:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return "none"
    try:
        out = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.splitlines()[0] if out else "unknown"
