"""Atomic files and folders: the one place the simulator writes anything to disk.

Everything is written beside its destination under a hidden name that carries the
writer's process id (``.NAME.p<pid>.<random>.partial``) and renamed into place when
complete, so a reader sees the old file or the new one, never half of one, and a
killed writer leaves only a hidden partial that :func:`clean_stale_partials` removes
once its process is gone.  Used by results folders, sweep task folders and tables,
figures and reports, and the traces that ``sim profile`` writes.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

PARTIAL = ".partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def partial_file(path: Path) -> Path:
    """A new, empty hidden file beside ``path`` that :func:`clean_stale_partials` knows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.p{os.getpid()}.", suffix=PARTIAL, dir=path.parent)
    os.close(fd)
    return Path(name)


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """``with writing(path) as tmp: <write tmp>``: ``tmp`` replaces ``path`` when the block
    ends, or is removed if it raises (or is interrupted)."""
    path = Path(path)
    tmp = partial_file(path)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp made it 0600; a result is as readable as any file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_with(path: Path, write: Callable[[Path], Any]) -> Path:
    """``write(tmp)`` then rename ``tmp`` onto ``path``; returns ``path``."""
    with writing(path) as tmp:
        write(tmp)
    return Path(path)


def write_text(path: Path, text: str) -> Path:
    return write_with(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: Path, data: Any, indent: int | None = 2, compact: bool = False) -> Path:
    """JSON (``NaN`` and ``Infinity`` refused: they are not JSON) with a final newline."""
    text = json.dumps(data, indent=None if compact else indent, separators=(",", ":") if compact else None,
                      allow_nan=False)
    return write_text(path, text + "\n")


def partial_folder(final: Path) -> Path:
    """A new hidden folder beside ``final`` to fill and then :func:`publish`."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.p{os.getpid()}.", suffix=PARTIAL, dir=final.parent))


def publish(tmp: Path, final: Path, keep_existing: bool = False) -> Path:
    """Rename the finished folder ``tmp`` to ``final``.

    When ``final`` exists (another writer finished first): with ``keep_existing`` the
    other writer's folder is kept and ``tmp`` removed (both hold the same thing);
    otherwise ``tmp`` takes the next free name ``final-2``, ``final-3``, ... so that no
    finished folder is ever lost.  Returns the folder that holds the result."""
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp made it 0700
    base, k = final, 1
    while True:
        try:
            os.rename(tmp, final)
            return final
        except OSError as e:
            if e.errno not in (errno.EEXIST, errno.ENOTEMPTY) or k > 10_000:
                raise
        if keep_existing:
            shutil.rmtree(tmp, ignore_errors=True)
            return final
        k += 1
        final = base.with_name(f"{base.name}-{k}")


@contextmanager
def folder(final: Path, keep_existing: bool = False) -> Iterator[Path]:
    """``with folder(final) as tmp: <fill tmp>``: published as :func:`publish` says when the
    block ends, removed if it raises.  The published path is ``tmp.published`` afterwards
    (see :class:`Published`)."""
    tmp = Published(partial_folder(final))
    try:
        yield tmp
        tmp.published = publish(tmp, final, keep_existing)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class Published(type(Path())):  # type: ignore[misc]
    """A partial folder's path that learns where it was published."""

    published: Path | None = None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_partials(where: Path) -> int:
    """Remove the hidden partial files and folders in ``where`` left by writers that died
    (the process id in the name is gone); a live writer's are left alone.  Returns how many."""
    if not where.is_dir():
        return 0
    removed = 0
    for p in where.glob(f".*{PARTIAL}"):
        pid = next((int(part[1:]) for part in p.name.split(".") if part[:1] == "p" and part[1:].isdigit()), None)
        if pid is None or pid == os.getpid() or _pid_alive(pid):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed += 1
    return removed
