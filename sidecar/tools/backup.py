"""Backing up a node (key, configuration, roster, ledger) while it runs; restoring it.

``python -m sidecar backup`` copies the database with SQLite's online backup API (one
consistent snapshot, the running node keeps writing) and writes it with the key, the
configuration and the building's first roster (the file the configuration names, or
the one the node adopted over the local API) into one tar file of mode 0600; the
members keep mode 0600. Without its roster a restored node would run alone.

A restored node may have signed entries after its backup, which its peers hold; if it
signed those seqs again it would equivocate. So ``restore`` marks the database
(``meta`` row ``restored``), and ``run`` refuses a marked database until the node's
own feed has been taken back from a peer (``import`` of the peer's export of this
node's author clears the mark) or the operator vouches that no peer can hold newer
entries (``run --restored-ok``). PROTOCOL.md section 9 and SIDECAR.md say why.
"""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Final

from sidecar import config as config_module
from sidecar.storage import node_state, store

KEY: Final = "node.key"
DB: Final = "ledger.db"
CONFIG: Final = "sidecar.toml"
ROSTER: Final = "roster.json"
MARK: Final = "restored"
_PRIVATE: Final = 0o600


class BackupError(Exception):
    """A backup cannot be made or restored; the message says why."""


def backup(config_path: Path, target: Path) -> int:
    """Write the node's key, configuration and a snapshot of its ledger to ``target``.

    Returns the number of entries of the node's own feed in the snapshot.
    """
    config = config_module.load(config_path)
    if not config.db_path.exists():
        raise BackupError(f"{config.db_path} does not exist; nothing to back up")
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        snapshot = Path(work) / DB
        node_state.snapshot(config.db_path, snapshot)
        head = _own_head(snapshot)
        partial = target.with_name(target.name + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            _add(tar, KEY, config.key_file.read_bytes())
            _add(tar, CONFIG, config.path.read_bytes())
            if config.roster_file is not None:
                _add(tar, ROSTER, config.roster_file.read_bytes())
            _add(tar, DB, snapshot.read_bytes())
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(target)
    return head


def restore(config_path: Path, source: Path, *, force: bool = False) -> int:
    """Put a backup's key and ledger in place for ``config_path``; the restored head.

    A configuration file that does not exist is taken from the backup. Existing files
    are kept beside the restored ones (``*.before-restore``) with ``force``, else the
    restore is refused.
    """
    try:
        with tarfile.open(source, mode="r") as tar:
            members = {name: _read(tar, name) for name in (KEY, CONFIG, DB)}
            roster = _read(tar, ROSTER) if ROSTER in tar.getnames() else None
    except (OSError, tarfile.TarError, KeyError) as err:
        raise BackupError(f"{source} is not a sidecar backup: {err}") from err
    if not config_path.exists():
        _write_private(config_path, members[CONFIG])
    config = config_module.load(config_path)
    # Where the configuration names a roster, else where an adopted one is kept.
    roster_path = config.roster_file or config.kept_roster
    present = [
        path
        for path in (
            config.key_file,
            config.db_path,
            *_sidecars(config.db_path),
            *([roster_path] if roster is not None else []),
        )
        if path.exists()
    ]
    if present and not force:
        raise BackupError(
            f"{present[0]} exists; stop the node and restore with --force (the "
            "current files are kept as *.before-restore)"
        )
    config.data_dir.mkdir(parents=True, exist_ok=True)
    for path in present:
        path.replace(path.with_name(path.name + ".before-restore"))
    _write_private(config.key_file, members[KEY])
    if roster is not None:
        _write_private(roster_path, roster)
    config.db_path.write_bytes(members[DB])
    node_state.write_meta(config.db_path, MARK, str(int(time.time())))
    return _own_head(config.db_path)


def restored(db: Path) -> bool:
    """Whether the database was restored and its own feed not yet taken back."""
    conn = store.connect(db, readonly=True)
    try:
        return MARK in store.meta(conn)
    finally:
        conn.close()


def own_author(db: Path) -> bytes:
    """The author id of the node whose database this is."""
    conn = store.connect(db, readonly=True)
    try:
        return bytes.fromhex(store.meta(conn).get("self", ""))
    finally:
        conn.close()


def clear_mark(db: Path) -> None:
    """The node's own feed is back (or the operator vouched): it may sign again."""
    node_state.write_meta(db, MARK, None)


def _own_head(db: Path) -> int:
    conn = store.connect(db, readonly=True)
    try:
        _count, _low, high = store.entry_span(conn, 1)
    finally:
        conn.close()
    return int(high or 0)


def _sidecars(db: Path) -> list[Path]:
    # A write-ahead log left beside a replaced database would be applied to it.
    return [db.with_name(db.name + suffix) for suffix in ("-wal", "-shm")]


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = _PRIVATE
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise KeyError(f"{name} is not a file")
    return handle.read()


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(_PRIVATE)
