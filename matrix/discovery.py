"""Release discovery: what the package index has that the release table does not.

`python -m matrix releases` (and every plan, unless `--releases table`)
asks the index the user's installer is configured for (uv's or pip's: see
`index_url`) for the versions of each family's package, over the Simple
API (PEP 691 JSON, PEP 503 HTML where an index serves only that), and
compares them with the table:

- a minor (or a release candidate of one) newer than every tabled one is
  *untabled*: planned with the capabilities of the newest tabled release of
  its family, its exact version pinned, and marked "untabled" in every
  report, so a night shows it the day it appears; the newest release
  candidate joins the default matrix;
- a tabled release whose newest patch moved past what an env installed is
  rebuilt with it (the env record says why: `envs/provision.py`);
- a yanked version is never planned, and a release with no Linux wheel
  for any Python the tool can run is a line in the report, not a plan.

Without an index (offline, a proxy that refuses) the table alone is used
and the report says so. The answer is cached in the output folder
(`releases.json`) for `MAX_AGE` so the stages of one run, and the shards
of one nightly (which pass the file with `--releases`), plan the same envs.
"""

from __future__ import annotations

import argparse
import configparser
import datetime
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from matrix import axes, files

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]
from matrix.files import JsonObject

SCHEMA_VERSION = 1
MAX_AGE = datetime.timedelta(hours=12)
TIMEOUT = 15.0  # seconds per index request
PYPI = "https://pypi.org/simple/"
# The package whose versions name each family's releases.
PACKAGES = {
    "tensorflow": "tensorflow",
    "keras": "keras",
    "litert": "ai-edge-litert",
    "tflite-runtime": "tflite-runtime",
}
# Packages an env installs beside its family's own, watched for patch moves.
COMPANIONS = {"tensorflow": ("tensorflow-cpu", "tf-keras")}
ANY_PYTHON = "3"  # what a pure (py3-none-any) wheel runs on
ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"


@dataclass(frozen=True)
class Untabled:
    """A release the index has and the table does not."""

    family: str
    minor: str  # "2.22"
    version: str  # the exact version planned: "2.22.0rc0"
    based_on: str  # the tabled release whose capabilities it borrows
    pythons: tuple[str, ...]  # Pythons with a Linux wheel of it
    flavours: tuple[str, ...]  # flavours it can run (tf-keras only with a tf-keras of its minor)

    @property
    def prerelease(self) -> bool:
        return Version(self.version).is_prerelease


@dataclass
class Discovered:
    """What the index said, or why it said nothing."""

    index: str  # the index asked (no credentials)
    when: str
    offline: str | None = None  # why the table alone is used
    # package -> every non-yanked version it lists
    versions: dict[str, list[str]] = field(default_factory=dict)
    # package -> versions the index marks yanked
    yanked: dict[str, list[str]] = field(default_factory=dict)
    untabled: list[Untabled] = field(default_factory=list)
    # release key -> package -> the newest final patch of that minor
    newest: dict[str, dict[str, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # a clear line each

    def to_dict(self) -> JsonObject:
        return {
            "schema_version": SCHEMA_VERSION,
            "index": self.index,
            "when": self.when,
            "offline": self.offline,
            "versions": self.versions,
            "yanked": self.yanked,
            "untabled": [
                vars(u) | {"pythons": list(u.pythons), "flavours": list(u.flavours)}
                for u in self.untabled
            ],
            "newest": self.newest,
            "problems": self.problems,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Discovered:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"expected schema_version {SCHEMA_VERSION}")
        return cls(
            index=str(data["index"]),
            when=str(data["when"]),
            offline=data.get("offline"),
            versions={k: list(v) for k, v in data.get("versions", {}).items()},
            yanked={k: list(v) for k, v in data.get("yanked", {}).items()},
            untabled=[
                Untabled(
                    u["family"],
                    u["minor"],
                    u["version"],
                    u["based_on"],
                    tuple(u["pythons"]),
                    tuple(u["flavours"]),
                )
                for u in data.get("untabled", [])
            ],
            newest={k: dict(v) for k, v in data.get("newest", {}).items()},
            problems=list(data.get("problems", [])),
        )

    def facts(self) -> JsonObject:
        """What a report says of it: where the releases came from, what is new."""
        return {
            "index": self.index,
            "when": self.when,
            "offline": self.offline,
            "untabled": [f"{PACKAGES[u.family]} {u.version}" for u in self.untabled],
            "problems": self.problems,
        }


# -- which index ------------------------------------------------------------------


def index_url(environ: Mapping[str, str] | None = None) -> str:
    """The index the user's installer reads: uv's (UV_DEFAULT_INDEX,
    UV_INDEX_URL, a default index in uv.toml), else pip's (PIP_INDEX_URL,
    index-url in pip.conf), else PyPI."""
    environ = os.environ if environ is None else environ
    for name in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if environ.get(name):
            return _slash(environ[name])
    for found in (_uv_config(environ), _pip_config(environ)):
        if found:
            return _slash(found)
    return PYPI


def _uv_config(environ: Mapping[str, str]) -> str | None:
    home = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for path in (home / "uv" / "uv.toml", Path("/etc/uv/uv.toml")):
        try:
            with path.open("rb") as handle:
                data = tomllib.load(handle)
        except (OSError, ValueError):  # TOMLDecodeError is a ValueError
            continue
        if isinstance(data.get("index-url"), str):
            return str(data["index-url"])
        for entry in data.get("index") or []:
            if isinstance(entry, dict) and entry.get("default") and entry.get("url"):
                return str(entry["url"])
    return None


def _pip_config(environ: Mapping[str, str]) -> str | None:
    home = Path(environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    paths = [Path("/etc/pip.conf"), home / "pip" / "pip.conf", Path.home() / ".pip" / "pip.conf"]
    if environ.get("PIP_CONFIG_FILE"):
        paths.append(Path(environ["PIP_CONFIG_FILE"]))
    found = None
    for path in paths:  # later files win, as pip reads them
        parser = configparser.ConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error):
            continue
        if parser.has_option("global", "index-url"):
            found = parser.get("global", "index-url")
    return found


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def shown(url: str) -> str:
    """The index's address without credentials, for a report."""
    return re.sub(r"//[^/@]*@", "//", url)


# -- asking it --------------------------------------------------------------------


@dataclass(frozen=True)
class Listed:
    """One package's page: its versions, the yanked ones, its wheels' tags."""

    versions: tuple[str, ...]
    yanked: tuple[str, ...]
    # version -> Pythons ("3.11") with a manylinux x86_64 (or pure) wheel
    pythons: Mapping[str, tuple[str, ...]]


def listed(index: str, package: str, timeout: float = TIMEOUT) -> Listed:
    """The package's versions on the index; raise OSError when it cannot say."""
    request = urllib.request.Request(index + package + "/", headers={"Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        kind = response.headers.get("Content-Type", "")
        body = response.read(64 * 1024 * 1024)
    if "json" in kind:
        data = json.loads(body)
        entries = [(f["filename"], bool(f.get("yanked"))) for f in data.get("files", [])]
    else:
        entries = _anchors(body.decode("utf-8", "replace"))
    return _listing(package, entries)


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, bool]] = []
        self._open: bool | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = any(name == "data-yanked" for name, _ in attrs)

    def handle_data(self, data: str) -> None:
        if self._open is not None and data.strip():
            self.found.append((data.strip(), self._open))
            self._open = None


def _anchors(html: str) -> list[tuple[str, bool]]:
    parser = _Anchors()
    parser.feed(html)
    return parser.found


def _listing(package: str, entries: Iterable[tuple[str, bool]]) -> Listed:
    versions: dict[str, bool] = {}  # version -> every file of it yanked
    pythons: dict[str, set[str]] = {}
    for filename, yanked in entries:
        version, tags = _parse_filename(package, filename)
        if version is None:
            continue
        versions[version] = versions.get(version, True) and yanked
        pythons.setdefault(version, set()).update(tags)
    order = sorted(versions, key=Version)
    return Listed(
        versions=tuple(v for v in order if not versions[v]),
        yanked=tuple(v for v in order if versions[v]),
        pythons={v: tuple(sorted(pythons[v], key=axes.version_tuple)) for v in order},
    )


def _parse_filename(package: str, filename: str) -> tuple[str | None, set[str]]:
    """(version, Pythons with a Linux x86_64 wheel) of one file; sdists give no Python."""
    if filename.endswith(".whl"):
        try:
            _, version, _, tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, InvalidVersion):
            return None, set()
        found = set()
        for tag in tags:
            linux = tag.platform == "any" or (
                "linux" in tag.platform and tag.platform.endswith("x86_64")
            )
            match = re.fullmatch(r"(?:cp|py)(\d)(\d+)", tag.interpreter)
            if linux and match:
                found.add(f"{match[1]}.{match[2]}")
            elif linux and tag.interpreter == "py3":
                found.add(ANY_PYTHON)  # a pure wheel: every Python 3
        return str(version), found
    stem = re.sub(r"\.(tar\.gz|zip|tar\.bz2)$", "", filename)
    prefix = re.sub(r"[-_.]+", "[-_.]", re.escape(package).replace("\\", ""))
    match = re.match(rf"(?i){prefix}-(.+)$", stem)
    if not match:
        return None, set()
    try:
        return str(Version(match[1])), set()
    except InvalidVersion:
        return None, set()


# -- comparing with the table ------------------------------------------------------


def discover(index: str | None = None, timeout: float = TIMEOUT) -> Discovered:
    """Ask the index and compare its answer with the release table."""
    index = index or index_url()
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    found = Discovered(shown(index), now)
    pages: dict[str, Listed] = {}
    names = [*PACKAGES.values(), *(c for cs in COMPANIONS.values() for c in cs)]
    for package in names:
        try:
            pages[package] = listed(index, package, timeout)
        except (OSError, ValueError) as exc:  # URLError is an OSError
            if package == PACKAGES["tensorflow"]:
                found.offline = f"{shown(index)} did not answer for {package}: {_reason(exc)}"
                return found
            found.problems.append(f"{shown(index)}: no versions of {package}: {_reason(exc)}")
    for package, page in pages.items():
        found.versions[package] = list(page.versions)
        if page.yanked:
            found.yanked[package] = list(page.yanked)
    for family, package in PACKAGES.items():
        if package in pages:
            _compare(found, family, pages)
    return found


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return str(exc.reason)
    return str(exc) or type(exc).__name__


def _minor(version: str) -> str:
    release = Version(version).release
    return f"{release[0]}.{release[1] if len(release) > 1 else 0}"


def _tabled(family: str) -> list[axes.Release]:
    return sorted(
        (
            r
            for r in axes.RELEASES.values()
            if r.family == family and not r.nightly and not r.untabled
        ),
        key=lambda r: r.version,
    )


def _compare(found: Discovered, family: str, pages: Mapping[str, Listed]) -> None:
    page = pages[PACKAGES[family]]
    tabled = _tabled(family)
    if not tabled:
        return
    newest_tabled = tabled[-1]
    by_minor: dict[str, list[str]] = {}
    for version in page.versions:
        by_minor.setdefault(_minor(version), []).append(version)
    for release in tabled:
        finals = [v for v in by_minor.get(release.minor, []) if not Version(v).is_prerelease]
        if finals:
            found.newest.setdefault(release.key, {})[PACKAGES[family]] = finals[-1]
        for companion in COMPANIONS.get(family, ()):
            listed_of = pages.get(companion)
            if listed_of is None:
                continue
            same = [v for v in listed_of.versions
                    if _minor(v) == release.minor and not Version(v).is_prerelease]  # fmt: skip
            if same:
                found.newest.setdefault(release.key, {})[companion] = same[-1]
        for version in page.yanked:
            if _minor(version) == release.minor:
                found.problems.append(
                    f"{PACKAGES[family]} {version} is yanked on the index: never planned"
                )
    newer = sorted(
        (m for m in by_minor if axes.version_tuple(m) > axes.version_tuple(newest_tabled.minor)),
        key=axes.version_tuple,
    )
    for minor in newer:
        version = by_minor[minor][-1]  # the newest of the minor, a candidate or final
        pythons = _pythons(family, version, pages)
        if ANY_PYTHON in pythons:  # a pure wheel: the Pythons its base runs
            pythons = newest_tabled.pythons
        usable = tuple(p for p in pythons if p in axes.KNOWN_PYTHONS)
        if not usable:
            found.problems.append(
                f"{PACKAGES[family]} {version} (untabled) has no Linux wheel for any Python "
                f"the tool runs ({', '.join(axes.KNOWN_PYTHONS)}); it has "
                f"{', '.join(pythons) or 'none'}: not planned"
            )
            continue
        found.untabled.append(
            Untabled(family, minor, version, newest_tabled.key, usable,
                     _flavours(family, minor, newest_tabled, pages))
        )  # fmt: skip


def _pythons(family: str, version: str, pages: Mapping[str, Listed]) -> tuple[str, ...]:
    """Pythons with a wheel: a TF env installs tensorflow-cpu where it exists."""
    packages = [PACKAGES[family], *COMPANIONS.get(family, ())[:1]]
    found: set[str] = set()
    for package in packages:
        page = pages.get(package)
        if page is not None:
            found.update(page.pythons.get(version, ()))
    return tuple(sorted(found, key=lambda p: axes.version_tuple(p) or (0,)))


def _flavours(
    family: str, minor: str, based_on: axes.Release, pages: Mapping[str, Listed]
) -> tuple[str, ...]:
    flavours = based_on.flavours
    if family == "tensorflow" and "tf-keras" in flavours:
        tf_keras = pages.get("tf-keras")
        if tf_keras is None or not any(_minor(v) == minor for v in tf_keras.versions):
            flavours = tuple(f for f in flavours if f != "tf-keras")
    return flavours


# -- using it ------------------------------------------------------------------


_ADOPTED: list[Discovered] = []


def adopted() -> Discovered | None:
    """What this process's release table was completed with, if anything."""
    return _ADOPTED[-1] if _ADOPTED else None


def adopt(found: Discovered, *, planned: bool = True) -> None:
    """Put what was found into the release table for this process: each
    untabled release (borrowing its base's capabilities), each tabled
    release's newest patches. `planned`: this run plans from it (its
    report says so); a document read from disk only needs its releases
    known, and its tabled releases keep this run's newest patches."""
    if planned:
        _ADOPTED[:] = [found]
    releases: dict[str, axes.Release] = {}
    for key, newest in found.newest.items() if planned else ():
        if key in axes.RELEASES:
            releases[key] = replace(axes.RELEASES[key], newest=dict(newest))
    for untabled in found.untabled:
        if not planned and _key(untabled).removeprefix("tf") in axes.RELEASES:
            continue
        base = axes.RELEASES.get(untabled.based_on)
        if base is None:  # a file of another table: nothing to borrow from
            continue
        release = replace(
            base,
            minor=untabled.minor,
            pythons=untabled.pythons,
            untabled=untabled.version,
            only_flavours=untabled.flavours,
            newest={},
        )
        releases[release.key] = release
    axes.adopt(releases)


def load(path: Path) -> Discovered:
    """A releases.json `releases` wrote (a nightly's shards share one)."""
    data = files.read_json(path)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a releases.json of tf-compat-matrix")
    return Discovered.from_dict(data)


def cached(
    path: Path, index: str | None = None, now: datetime.datetime | None = None
) -> Discovered:
    """The answer cached at `path` while younger than MAX_AGE and from the
    same index, else a fresh one (the caller keeps it there)."""
    index = index or index_url()
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if path.is_file():
        try:
            old = load(path)
            age = now - datetime.datetime.fromisoformat(old.when)
            if old.offline is None and old.index == shown(index) and age < MAX_AGE:
                return old
        except (OSError, ValueError, KeyError, TypeError):
            pass  # unreadable: ask again
    return discover(index)


def table_only(why: str) -> Discovered:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Discovered("", now, offline=why)


def describe(found: Discovered) -> str:
    """What `releases` prints: the index, what is new to the table, the
    newest patch of each tabled release, the problems."""
    if found.offline:
        return f"releases: the release table alone ({found.offline})"
    lines = [f"releases on {found.index} ({found.when}):"]
    if found.untabled:
        for u in found.untabled:
            kind = "release candidate" if u.prerelease else "release"
            lines.append(
                f"  untabled {kind}: {PACKAGES[u.family]} {u.version}, planned as "
                f"{_key(u)} with the capabilities of {u.based_on} "
                f"(Python {', '.join(u.pythons)}; flavours {', '.join(u.flavours)})"
            )
    else:
        lines.append("  nothing untabled: the table knows every minor the index has")
    newest = [
        f"{key} {' '.join(f'{p}=={v}' for p, v in sorted(by.items()))}"
        for key, by in found.newest.items()
        if key in axes.RELEASES and not axes.RELEASES[key].producer_only
    ]
    if newest:
        lines.append("  newest patches (an env built with an older one is rebuilt):")
        lines += [f"    {line}" for line in newest]
    lines += [f"  problem: {problem}" for problem in found.problems]
    return "\n".join(lines)


def _key(untabled: Untabled) -> str:
    if untabled.family == "tensorflow":
        return f"tf{untabled.minor}"
    return f"{untabled.family}{untabled.minor}"


# -- the command ------------------------------------------------------------------


def add_arguments(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--index", metavar="URL", help="the Simple API to ask (default: the one "
                     "uv or pip is configured for, else PyPI)")  # fmt: skip
    sub.add_argument("--write", metavar="FILE", help="also write the answer as releases.json "
                     "(what --releases FILE plans from)")  # fmt: skip
    sub.add_argument("--json", action="store_true", help="print the answer as JSON")


def run(args: argparse.Namespace) -> int:
    """What the index has that the release table does not (exit 0 offline
    too: the table alone is a plan, and the line says why)."""
    from matrix.escape import terminal

    found = discover(_slash(args.index) if args.index else None)
    if args.write:
        files.write_json(Path(args.write), found.to_dict())
    if args.json:
        print(json.dumps(found.to_dict(), indent=2, sort_keys=True))
    else:
        print(terminal(describe(found)))
    return 0
