"""The sidecar's configuration file (TOML): writing it at init, validating it at start.

Errors name the file, the section and the key, and say what is wrong; they never repeat
the API token.
"""

from __future__ import annotations

import dataclasses
import difflib
import ipaddress
import os
import re
import secrets
import stat
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sidecar import command_name
from sidecar.ledger import signed_note
from sidecar.ledger.kinds import periods
from sidecar.storage.store import SYNC_MODES

DEFAULT_PORT: Final = 8765
DEFAULT_TIMEZONE: Final = "Asia/Tokyo"
# The first roster a node adopted over the local API, kept in its data directory.
KEPT_ROSTER: Final = "roster.json"
MIN_TOKEN_CHARS: Final = 32
_ID: Final = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_SHORT: Final = re.compile(r"[A-Za-z0-9._-]{1,16}\Z")
_SERIAL: Final = re.compile(r"[ -~]{0,64}\Z")
HOUR_MS: Final = 3_600_000
DAY_MS: Final = 86_400_000


class ConfigError(Exception):
    """The configuration file is missing or one of its values is invalid."""


@dataclass(frozen=True, slots=True)
class Config:
    """A validated configuration."""

    path: Path
    building: str
    floor: str
    flat: str
    host: str
    port: int
    data_dir: Path
    key_file: Path
    api_token: str
    device_serial: str | None
    interval_ms: int
    checkpoint_interval_s: float
    grid_renewable_ppm: int
    max_power_w: int
    max_clock_skew_s: int
    max_sample_age_s: int
    flow_hours: float
    hourly_days: float
    sync: str
    roster_file: Path | None = None
    announce: bool = False
    max_frame_bytes: int = 1 << 20
    peer_frames_per_s: int = 100
    dial: tuple[tuple[str, str], ...] = ()
    round_ms: int = 1000
    stale_ms: int = 3000
    revert_s: int = 5
    local_peak_w: int | None = None
    timezone: str = DEFAULT_TIMEZONE
    daily_days: float = 400.0
    unauthenticated_timeout_s: float = 10.0
    max_unauthenticated_per_source: int = 64
    max_unauthenticated: int = 512
    device_speed: float = 1.0
    c2sp_witness_url: str = ""
    c2sp_witness_key: str = ""
    c2sp_witness_every_s: float = 60.0

    @property
    def db_path(self) -> Path:
        """The ledger database."""
        return self.data_dir / "ledger.db"

    @property
    def kept_roster(self) -> Path:
        """Where the node keeps a first roster adopted over the local API."""
        return self.data_dir / KEPT_ROSTER

    def __repr__(self) -> str:
        # Keeps the token out of tracebacks and debug logs.
        return f"Config({self.path}, building={self.building!r}, flat={self.flat!r})"


_TEMPLATE: Final = """\
# Local VPP ledger sidecar: one per flat. docs/SIDECAR.md explains every key.

[node]
building = {building}    # the building's ledger id (the same on every flat)
floor = {floor}
flat = {flat}
listen = {listen}    # where the flat's Home Assistant connects
data_dir = {data_dir}    # relative paths are relative to this file
key_file = "node.key"    # relative to data_dir; mode 0600, never share it
api_token = {token}    # Home Assistant sends this as a bearer token
device_serial = ""    # used when Home Assistant sends no serial number
timezone = "Asia/Tokyo"    # the building's IANA time zone: days and months of rollups

[ledger]
interval_ms = 1000    # one flow entry per interval: 200 to 60000, dividing 60000
checkpoint_interval_s = 5    # sign a checkpoint this often while the feed grows
grid_renewable_ppm = 0    # renewable share of grid energy, parts per million

[limits]
max_power_w = 20000    # larger powers, or counters growing faster, are refused
max_clock_skew_s = 30    # how far ahead of this clock a sample may be
max_sample_age_s = 86400    # how old a sample may be
unauthenticated_timeout_s = 10    # a connection not authenticated by then is closed
max_unauthenticated_per_source = 64    # such connections held per source address
max_unauthenticated = 512    # and in all (at most a third of the file limit)
device_speed = 1    # device seconds per second of sample time; a simulator's speed

[retention]
flow_hours = 4    # keep flow entries this long after their hourly rollup
hourly_days = 35    # keep hourly rollups this long after their daily rollup
daily_days = 400    # keep daily rollups this long after their monthly rollup

[storage]
sync = "full"    # "full": durable across power loss; "normal": across crashes only

[mesh]
roster = ""    # the building's roster file; "": the one adopted from HA, else alone
announce = false    # announce this node on the local network (zeroconf)
max_frame_kb = 1024    # larger frames from a peer are refused
peer_frames_per_s = 100    # frames per second a peer may send (bursts of 4x)

[coordination]
round_ms = 1000    # one availability entry and one allocation per round
stale_ms = 3000    # a member silent this long is left out and the rest re-share
revert_s = 5    # the inverter drops a group setpoint this long after the last one
# local_peak_w = 3000    # without the mesh: discharge what the flat imports above this
"""

_KNOWN: Final = {
    "node": {
        "building",
        "floor",
        "flat",
        "listen",
        "data_dir",
        "key_file",
        "api_token",
        "device_serial",
        "timezone",
    },
    "ledger": {"interval_ms", "checkpoint_interval_s", "grid_renewable_ppm"},
    "limits": {
        "max_power_w",
        "max_clock_skew_s",
        "max_sample_age_s",
        "unauthenticated_timeout_s",
        "max_unauthenticated_per_source",
        "max_unauthenticated",
        "device_speed",
    },
    "retention": {"flow_hours", "hourly_days", "daily_days"},
    "storage": {"sync"},
    "mesh": {"roster", "announce", "max_frame_kb", "peer_frames_per_s", "dial"},
    "coordination": {"round_ms", "stale_ms", "revert_s", "local_peak_w"},
    "c2sp": {"witness_url", "witness_key", "witness_every_s"},
}


def write_new(
    path: Path, *, building: str, floor: str, flat: str, listen: str, data_dir: str
) -> None:
    """Write a fresh configuration with a random API token; never replace a file.

    The file gets mode 0600 because it holds the token.
    """
    text = _TEMPLATE.format(
        building=_toml_str(building),
        floor=_toml_str(floor),
        flat=_toml_str(flat),
        listen=_toml_str(listen),
        data_dir=_toml_str(data_dir),
        token=_toml_str(secrets.token_urlsafe(32)),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as err:
        raise ConfigError(f"{path} already exists; not overwriting it") from err
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _check_private(path: Path) -> None:
    """Refuse a file that group or others can read: it holds the API token."""
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{path} has mode {stat.S_IMODE(mode):04o}; other users could read the "
            f"API token in it and control this node. Run: chmod 600 {path}"
        )


def load(path: Path) -> Config:
    """Read and validate the configuration file (refused if others may read it)."""
    try:
        _check_private(path)
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ConfigError(
            f"{path} does not exist; create one with {command_name.advice('init')}"
        ) from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"{path} cannot be read: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path} is not valid TOML: {err}") from err
    reader = _Reader(path, raw)
    node, ledger, limits = "node", "ledger", "limits"
    building = reader.get(
        node, "building", str, check=_pattern(_ID, "1-64 of A-Z a-z 0-9 . _ -")
    )
    floor = reader.get(
        node, "floor", str, check=_pattern(_SHORT, "1-16 of A-Z a-z 0-9 . _ -")
    )
    flat = reader.get(
        node, "flat", str, check=_pattern(_SHORT, "1-16 of A-Z a-z 0-9 . _ -")
    )
    host, port = reader.get(
        node, "listen", str, default=f"127.0.0.1:{DEFAULT_PORT}", convert=_listen
    )
    base = path.parent
    data_dir = base / reader.get(node, "data_dir", str, default="data")
    key_file = data_dir / reader.get(node, "key_file", str, default="node.key")
    token = reader.get(node, "api_token", str, secret=True, check=_token)
    serial = reader.get(
        node,
        "device_serial",
        str,
        default="",
        check=_pattern(_SERIAL, "up to 64 printable ASCII characters"),
    )
    interval = reader.get(ledger, "interval_ms", int, default=1000, check=_interval)
    config = Config(
        path=path,
        building=building,
        floor=floor,
        flat=flat,
        host=host,
        port=port,
        data_dir=data_dir,
        key_file=key_file,
        api_token=token,
        device_serial=serial or None,
        interval_ms=interval,
        checkpoint_interval_s=reader.get(
            ledger,
            "checkpoint_interval_s",
            float,
            default=5.0,
            check=_between(0.5, 3600),
        ),
        grid_renewable_ppm=reader.get(
            ledger, "grid_renewable_ppm", int, default=0, check=_between(0, 1_000_000)
        ),
        max_power_w=reader.get(
            limits, "max_power_w", int, default=20_000, check=_between(100, 1_000_000)
        ),
        max_clock_skew_s=reader.get(
            limits, "max_clock_skew_s", int, default=30, check=_between(0, 3600)
        ),
        max_sample_age_s=reader.get(
            limits,
            "max_sample_age_s",
            int,
            default=86_400,
            check=_between(1, 30 * 86_400),
        ),
        device_speed=reader.get(
            limits, "device_speed", float, default=1.0, check=_between(1, 3600)
        ),
        unauthenticated_timeout_s=reader.get(
            limits,
            "unauthenticated_timeout_s",
            float,
            default=10.0,
            check=_between(1, 300),
        ),
        max_unauthenticated_per_source=reader.get(
            limits,
            "max_unauthenticated_per_source",
            int,
            default=64,
            check=_between(1, 65_536),
        ),
        max_unauthenticated=reader.get(
            limits, "max_unauthenticated", int, default=512, check=_between(1, 65_536)
        ),
        flow_hours=reader.get(
            "retention", "flow_hours", float, default=4.0, check=_between(1, 24 * 365)
        ),
        hourly_days=reader.get(
            "retention", "hourly_days", float, default=35.0, check=_between(2, 3650)
        ),
        sync=reader.get(
            "storage", "sync", str, default="full", check=_choice(SYNC_MODES)
        ),
    )
    roster = reader.get("mesh", "roster", str, default="")
    announce = reader.raw.get("mesh", {}).get("announce", False)
    if not isinstance(announce, bool):
        reader.fail("mesh", "announce", f"must be true or false, got {announce!r}")
    dial = reader.raw.get("mesh", {}).get("dial", {})
    if not isinstance(dial, dict) or not all(
        isinstance(flat, str) and isinstance(address, str) and _listen_ok(address)
        for flat, address in dial.items()
    ):
        reader.fail(
            "mesh",
            "dial",
            'must be a table of flat = "host:port", e.g. dial = { "302" = '
            '"10.0.0.12:8765" }',
        )
    config = dataclasses.replace(
        config,
        # A roster the configuration names wins; else the one the node adopted.
        roster_file=(base / roster)
        if roster
        else (config.kept_roster if config.kept_roster.exists() else None),
        announce=announce,
        max_frame_bytes=reader.get(
            "mesh", "max_frame_kb", int, default=1024, check=_between(16, 65536)
        )
        * 1024,
        peer_frames_per_s=reader.get(
            "mesh", "peer_frames_per_s", int, default=100, check=_between(5, 100_000)
        ),
        dial=tuple(sorted(dial.items())),
    )
    coordination = "coordination"
    round_ms = reader.get(
        coordination, "round_ms", int, default=1000, check=_between(100, 60_000)
    )
    stale_ms = reader.get(
        coordination,
        "stale_ms",
        int,
        default=max(3000, 2 * round_ms),
        check=_between(round_ms, 3_600_000),
    )
    revert_s = reader.get(
        coordination, "revert_s", int, default=5, check=_between(1, 3600)
    )
    if revert_s * 1000 <= round_ms:
        reader.fail(coordination, "revert_s", "must be longer than one round")
    peak = reader.raw.get(coordination, {}).get("local_peak_w")
    config = dataclasses.replace(
        config,
        round_ms=round_ms,
        stale_ms=stale_ms,
        revert_s=revert_s,
        local_peak_w=None
        if peak is None
        else reader.get(
            coordination, "local_peak_w", int, check=_between(0, config.max_power_w)
        ),
    )
    config = dataclasses.replace(
        config,
        timezone=reader.get(
            node, "timezone", str, default=DEFAULT_TIMEZONE, check=_zone
        ),
        daily_days=reader.get(
            "retention", "daily_days", float, default=400.0, check=_between(32, 36_500)
        ),
    )
    if config.daily_days <= config.hourly_days:
        reader.fail(
            "retention",
            "daily_days",
            "must keep daily rollups longer than hourly rollups are kept",
        )
    if config.hourly_days * DAY_MS <= config.flow_hours * HOUR_MS + DAY_MS:
        reader.fail(
            "retention",
            "hourly_days",
            "must keep hourly rollups at least a day longer than flows are kept",
        )
    return _c2sp(reader, config)


def _c2sp(reader: _Reader, config: Config) -> Config:
    """The outside witness the node asks for C2SP cosignatures, if any."""
    url = reader.get("c2sp", "witness_url", str, default="", check=_http_url)
    key = reader.get("c2sp", "witness_key", str, default="", check=_cosigner_key)
    if bool(url) != bool(key):
        missing = "witness_key" if url else "witness_url"
        reader.fail("c2sp", missing, "is needed with the other witness_ key")
    every = reader.get(
        "c2sp", "witness_every_s", float, default=60.0, check=_between(1, 86_400)
    )
    return dataclasses.replace(
        config, c2sp_witness_url=url, c2sp_witness_key=key, c2sp_witness_every_s=every
    )


def _http_url(value: str) -> str | None:
    if value and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
        return "must be an http:// or https:// URL (the witness's submission prefix)"
    return None


def _cosigner_key(value: str) -> str | None:
    if not value:
        return None
    try:
        verifier = signed_note.parse_vkey(value)
    except signed_note.NoteError as err:
        return f"is not a verifier key: {err}"
    if verifier.sig_type != signed_note.TYPE_COSIGNATURE_V1:
        return "must be an Ed25519 cosignature/v1 key (type 0x04)"
    return None


class _Reader:
    def __init__(self, path: Path, raw: dict[str, Any]) -> None:
        self.path = path
        self.raw = raw
        for section, value in raw.items():
            if section not in _KNOWN:
                self.fail(section, None, f"unknown section{_suggest(section, _KNOWN)}")
            if not isinstance(value, dict):
                self.fail(section, None, "must be a table: [" + section + "]")
            for key in value:
                if key not in _KNOWN[section]:
                    self.fail(
                        section, key, f"unknown key{_suggest(key, _KNOWN[section])}"
                    )

    def fail(self, section: str, key: str | None, problem: str) -> None:
        where = f"[{section}]" if key is None else f"[{section}] {key}"
        raise ConfigError(f"{self.path}: {where}: {problem}")

    def get[T, R](
        self,
        section: str,
        key: str,
        kind: type[T],
        *,
        default: T | None = None,
        check: Callable[[T], str | None] | None = None,
        convert: Callable[[T], R] | None = None,
        secret: bool = False,
    ) -> Any:
        value = self.raw.get(section, {}).get(key, default)
        if value is None:
            self.fail(section, key, "is required")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            shown = "the value" if secret else repr(value)
            self.fail(section, key, f"must be a {kind.__name__}, got {shown}")
        if check is not None:
            problem = check(value)
            if problem is not None:
                self.fail(
                    section, key, problem if secret else f"{problem} (got {value!r})"
                )
        if convert is not None:
            try:
                return convert(value)
            except ValueError as err:
                self.fail(section, key, f"{err} (got {value!r})")
        return value


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pattern(pattern: re.Pattern[str], text: str) -> Callable[[str], str | None]:
    return lambda value: None if pattern.match(value) else f"must be {text}"


def _between(low: float, high: float) -> Callable[[float], str | None]:
    return lambda value: (
        None if low <= value <= high else f"must be between {low} and {high}"
    )


def _choice(options: dict[str, str]) -> Callable[[str], str | None]:
    return lambda value: (
        None if value in options else f"must be one of {sorted(options)}"
    )


def _zone(value: str) -> str | None:
    try:
        periods.zone(value)
    except periods.ZoneError:
        return 'must be an IANA time zone name such as "Asia/Tokyo" or "UTC"'
    return None


def _token(value: str) -> str | None:
    if len(value) < MIN_TOKEN_CHARS:
        return f"must be at least {MIN_TOKEN_CHARS} characters long"
    return None


def _interval(value: int) -> str | None:
    if not 200 <= value <= 60_000 or 60_000 % value:
        return (
            "must be between 200 and 60000 and divide 60000 (e.g. 200, 250, 500, 1000)"
        )
    return None


def _listen(value: str) -> tuple[str, int]:
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("must be host:port, e.g. 127.0.0.1:8765")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError as err:
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", host):
            raise ValueError("the host must be an IP address or a host name") from err
    return host, int(port_text)


def _listen_ok(value: str) -> bool:
    try:
        _listen(value)
    except ValueError:
        return False
    return True


def _suggest(word: str, options: object) -> str:
    assert isinstance(options, dict | set)
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
