"""The one root-relative reader: every file movcheck reads goes through a :class:`Root`.

A root is ``/`` on a live machine or a snapshot directory that mirrors the real
paths (``proc/...``, ``sys/...``, ``var/log/dmesg``), as ``lsmem --sysroot`` reads
one. Inside a snapshot, symlinks resolve inside it and a link that leaves it is
refused. A ``.tar.gz`` (or ``.tar.xz``) recording is unpacked by :func:`open_root` into a
private temporary directory with member and size caps; sosreports and single boot-log
files are mapped onto snapshot paths there (probes/mapped.py).
"""
from __future__ import annotations

import contextlib
import errno
import itertools
import os
import stat
from typing import Any, Callable, Collection, Iterator, TypeVar

from probes.reading import Reading, Status

#: Caps on an unpacked recording (members, bytes): far above any real capture.
MAX_MEMBERS = 2_000_000
MAX_BYTES = 1 << 30
TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz")
T = TypeVar("T")


class RootError(Exception):
    """A root that cannot be used; ``code`` is the exit status (2 bad input, 3 missing)."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


class Root:
    """Reads files below ``prefix``; records every relative path it touched.

    Confinement in a snapshot costs one lstat per directory, not a realpath per file:
    each directory's real path is resolved once (a link among them is resolved and
    checked to stay inside) and cached, and the last component is opened with
    O_NOFOLLOW, so a final link is resolved and checked only when there is one.
    """

    #: Resolved directories kept (a bound, so a walk over 100k block dirs stays small).
    DIR_CACHE = 4096

    def __init__(self, prefix: str | os.PathLike[str] = "/") -> None:
        self.prefix = os.path.realpath(os.fspath(prefix))
        self.live = self.prefix == "/"
        self.touched: set[str] = set()
        self._dirs: dict[str, str] = {"": self.prefix}
        self._once: dict[Callable[["Root"], Reading[Any]], Reading[Any]] = {}
        #: Set by :func:`open_root` for a root mapped from a log file or a sosreport
        #: (probes/mapped.py Mapped: what was read, and where the boot log's lines come from).
        self.mapped: Any = None

    def __repr__(self) -> str:
        return f"Root({self.prefix!r})"

    def once(self, reader: Callable[["Root"], Reading[T]]) -> Reading[T]:
        """``reader(self)``, run once per root: a command that needs an input in several places
        (the audit's facts and the model's) reads and parses its files once."""
        got = self._once.get(reader)
        if got is None:
            got = self._once[reader] = reader(self)
        return got

    def forget(self) -> None:
        """Drop what :meth:`once` and the directory cache hold, so that the next reads see
        the files anew (a live machine read again after its memory changed)."""
        self._once.clear()
        self._dirs = {"": self.prefix}

    def _resolved(self, path: str) -> str:
        """``path`` with every link resolved; raises _Escape when it leaves the root."""
        real = os.path.realpath(path)
        if real != self.prefix and not real.startswith(self.prefix + os.sep):
            raise _Escape(path)
        return real

    def _dir(self, rel: str) -> str:
        """The real path of directory ``rel`` (normalised, no ``..``), each component checked once."""
        real = self._dirs.get(rel)
        if real is not None:
            return real
        parent, _, name = rel.rpartition("/")
        path = os.path.join(self._dir(parent), name)
        if stat.S_ISLNK(os.lstat(path).st_mode):
            path = self._resolved(path)
        if len(self._dirs) >= self.DIR_CACHE:
            self._dirs = {"": self.prefix}
        self._dirs[rel] = path
        return path

    def _near(self, rel: str) -> str:
        """``rel`` below the root with every directory checked; the last component may be a link,
        so open it with O_NOFOLLOW or pass it to :meth:`_path`. Raises _Escape."""
        if self.live:
            return os.path.join(self.prefix, rel)
        parent, _, name = rel.rpartition("/")
        known = self._dirs.get(parent)  # keys are normalised, so a hit has no '.', '..' or '//'
        if known is not None and name not in ("", ".", ".."):
            return f"{known}/{name}"
        parts = [p for p in rel.split("/") if p and p != "."]
        if ".." in parts:
            return self._resolved(os.path.join(self.prefix, rel))
        if not parts:
            return self.prefix
        return os.path.join(self._dir("/".join(parts[:-1])), parts[-1])

    def _path(self, rel: str) -> str:
        """The real path of ``rel`` with a final link followed; raises _Escape if it leaves."""
        path = self._near(rel)
        if not self.live and os.path.islink(path):
            return self._resolved(path)
        return path

    def _open(self, rel: str, flags: int) -> int:
        """An fd for ``rel`` opened with ``flags``, following a final link only inside the root."""
        if self.live:
            return os.open(os.path.join(self.prefix, rel), flags | os.O_CLOEXEC)
        path = self._near(rel)
        try:
            return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise
        return os.open(self._resolved(path), flags | os.O_CLOEXEC)

    def _read(self, rel: str, fn):  # type: ignore[no-untyped-def]
        rel = rel.lstrip("/")
        self.touched.add(rel)
        try:
            return Reading(rel, Status.OK, fn(rel))
        except _Escape:
            return Reading(rel, Status.MALFORMED, None, "a link leaves the root; refused")
        except (FileNotFoundError, NotADirectoryError):
            return Reading(rel, Status.ABSENT, None, "absent")
        except PermissionError as exc:
            return Reading(rel, Status.DENIED, None, f"{exc.strerror or 'permission denied'} (needs root)")
        except IsADirectoryError:
            return Reading(rel, Status.MALFORMED, None, "is a directory, expected a file")
        except UnicodeDecodeError:
            return Reading(rel, Status.MALFORMED, None, "not text")
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                return Reading(rel, Status.DENIED, None, f"{exc.strerror} (needs root)")
            return Reading(rel, Status.MALFORMED, None, exc.strerror or str(exc))

    def read_bytes(self, rel: str) -> Reading[bytes]:
        """The whole file as bytes."""
        return self._read(rel, lambda r: _read_fd(self._open(r, os.O_RDONLY)))

    def read_text(self, rel: str) -> Reading[str]:
        """The whole file as text (UTF-8; the kernel writes ASCII)."""
        return self._read(rel, lambda r: _read_fd(self._open(r, os.O_RDONLY)).decode("utf-8"))

    def listdir(self, rel: str) -> Reading[list[str]]:
        """The names in a directory, sorted."""
        return self._read(rel, lambda r: sorted(os.listdir(self._path(r))))

    def scan(self, rel: str, files: Collection[str], hint: str | None = None
             ) -> Reading[tuple[list[str], dict[str, str]]]:
        """A sysfs directory in one pass through its fd: its entry names and the text of each of
        ``files`` it holds. When ``hint`` names a symlink in it (a block's ``nodeN``, guessed from
        the previous block), the names are just ``[hint]`` and the listing is skipped.

        For sysfs attributes and regular files only: one read of a buffer larger than a page
        returns the whole attribute (fs/sysfs/file.c: a show() fills at most PAGE_SIZE), so a
        short read ends the file. Only ``rel`` is recorded in :attr:`touched`.
        """
        rel = rel.lstrip("/")
        self.touched.add(rel)
        try:
            dfd = self._open(rel, os.O_RDONLY | os.O_DIRECTORY)
        except (_Escape, OSError) as exc:
            return self._read(rel, lambda r, e=exc: _raise(e))
        try:
            names = None
            if hint is not None:
                try:
                    os.readlink(hint, dir_fd=dfd)
                    names = [hint]
                except (FileNotFoundError, OSError):
                    pass
            if names is None:
                names = os.listdir(dfd)
            texts: dict[str, str] = {}
            for name in files:
                try:
                    fd = os.open(name, _SCAN_FLAGS, dir_fd=dfd)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    if exc.errno != errno.ELOOP or self.live:
                        raise
                    r = self.read_text(f"{rel}/{name}")  # a link: resolved and checked
                    if not r.ok:
                        return Reading(r.source, r.status, None, r.problem)
                    texts[name] = r.value or ""
                    continue
                texts[name] = _read_fd(fd, short_is_eof=True).decode("utf-8")
            return Reading(rel, Status.OK, (names, texts))
        except OSError as exc:
            fname = f"{rel}/{exc.filename}" if isinstance(exc.filename, str) else rel
            return self._read(fname, lambda r, e=exc: _raise(e))
        except UnicodeDecodeError:
            return Reading(rel, Status.MALFORMED, None, "not text")
        finally:
            os.close(dfd)

    def open_dir(self, rel: str) -> Reading["DirReader"]:
        """A :class:`DirReader` on directory ``rel`` (close it, or use it in a ``with``)."""
        return self._read(rel.lstrip("/"), lambda r: DirReader(self._open(r, os.O_RDONLY | os.O_DIRECTORY)))

    def readlink(self, rel: str) -> Reading[str]:
        """The target of a symlink, as written (sysfs links are relative)."""
        rel = rel.lstrip("/")
        self.touched.add(rel)
        try:
            return Reading(rel, Status.OK, os.readlink(self._near(rel)))  # the link itself is not followed
        except _Escape:
            return Reading(rel, Status.MALFORMED, None, "a link leaves the root; refused")
        except (FileNotFoundError, NotADirectoryError):
            return Reading(rel, Status.ABSENT, None, "absent")
        except OSError as exc:
            return Reading(rel, Status.MALFORMED, None, exc.strerror or str(exc))

    def exists(self, rel: str) -> bool:
        """True when ``rel`` exists inside the root."""
        try:
            return os.path.exists(self._path(rel.lstrip("/")))
        except (_Escape, OSError):
            return False

    def is_dir(self, rel: str) -> bool:
        """True when ``rel`` is a directory inside the root."""
        try:
            return os.path.isdir(self._path(rel.lstrip("/")))
        except (_Escape, OSError):
            return False


class DirReader:
    """Reads below one directory of a root through its fd, for walks over many small sysfs files
    (every memory block): paths are relative to the directory, no :class:`Reading` is built per
    file, and errors are raised as OSError for the caller to retry through :class:`Root`.

    Confinement: the last component is opened with O_NOFOLLOW (a link raises ELOOP); callers
    pass only paths whose directories :meth:`entries` showed to be real directories, so no
    component can lead out of the root.
    """

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> "DirReader":
        return self

    def __exit__(self, *exc: object) -> None:
        os.close(self.fd)

    def entries(self) -> Iterator[tuple[str, bool]]:
        """Each entry's name and whether it is a real directory (from the listing's d_type)."""
        with os.scandir(self.fd) as it:
            for e in it:
                yield e.name, e.is_dir(follow_symlinks=False)

    def read(self, path: str) -> bytes | None:
        """A sysfs attribute or small regular file (one short read ends it), None when absent."""
        try:
            fd = os.open(path, _SCAN_FLAGS, dir_fd=self.fd)
        except FileNotFoundError:
            return None
        try:
            data = os.read(fd, _ATTR_CHUNK)  # the common case inline: called twice per memory block
        except BaseException:
            os.close(fd)
            raise
        if len(data) < _ATTR_CHUNK:
            os.close(fd)
            return data
        return data + _read_fd(fd)

    def is_link(self, path: str) -> bool:
        """True when ``path`` is a symlink (it is not followed)."""
        try:
            os.readlink(path, dir_fd=self.fd)
        except OSError:
            return False
        return True

    def listdir(self, path: str) -> list[str]:
        """The names in the real directory ``path``."""
        fd = os.open(path, _SCAN_FLAGS | os.O_DIRECTORY, dir_fd=self.fd)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)


class _Escape(Exception):
    pass


_SCAN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
#: Read size for whole files.
_CHUNK = 1 << 16
#: First read of a sysfs attribute: one byte more than a 4 KiB page (a show() fills at most
#: PAGE_SIZE), so a read returns all of one on x86 and the short read ends it. Reading into a
#: 64 KiB buffer instead costs several times more per file (the buffer is allocated and touched).
_ATTR_CHUNK = 4096 + 1


def _raise(exc: BaseException):  # type: ignore[no-untyped-def]
    raise exc


def _read_fd(fd: int, short_is_eof: bool = False) -> bytes:
    """Everything ``fd`` reads until EOF (closing it); ``short_is_eof`` stops at the first short
    read, which ends a regular file or a sysfs attribute but not a procfs seq_file."""
    try:
        first = _ATTR_CHUNK if short_is_eof else _CHUNK
        chunk = os.read(fd, first)
        if short_is_eof and len(chunk) < first:
            return chunk
        chunks = [chunk]
        while chunk:
            chunk = os.read(fd, _CHUNK)
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_root(arg: str | os.PathLike[str] = "/") -> Iterator[Root]:
    """A :class:`Root` for a snapshot directory or a recording (``.tar.gz``, ``.tar.xz``) unpacked
    privately; a sosreport (directory or archive) and a single boot-log file are mapped onto
    snapshot paths in a private directory (probes/mapped.py), with ``Root.mapped`` set."""
    path = os.fspath(arg)
    if os.path.isdir(path) and sos_top(path) is None:
        yield Root(path)
        return
    if not os.path.lexists(path):
        raise RootError(f"{path}: no such snapshot directory, recording or boot log", 3)
    # Imported here: a snapshot directory (the common case) needs none of them.
    import shutil
    import tempfile

    from probes import mapped  # it builds on this module (Root, unpack_recording)
    tmp = tempfile.mkdtemp(prefix="movcheck-")
    try:
        yield _mapped_root(path, tmp, mapped)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _mapped_root(path: str, tmp: str, mapped: Any) -> Root:
    """The root for ``path`` laid out below the private directory ``tmp``."""
    out, how = os.path.join(tmp, "root"), None
    if os.path.isdir(path):
        how = mapped.map_sosreport(sos_top(path), out)
    elif path.endswith(TAR_SUFFIXES) or _is_tar(path):
        unpacked = os.path.join(tmp, "archive")
        os.mkdir(unpacked)
        unpack_recording(path, unpacked)
        top = sos_top(unpacked)
        if top is None:
            return Root(unpacked)
        how = mapped.map_sosreport(top, out)
    else:
        how = mapped.map_log_file(path, out)
    root = Root(out)
    root.mapped = how
    return root


def sos_top(path: str) -> str | None:
    """The sosreport directory at or just below directory ``path`` (it holds sos_commands/)."""
    if os.path.isdir(os.path.join(path, "sos_commands")):
        return path
    try:
        with os.scandir(path) as it:  # two entries at most: a folder of 100,000 files is not listed
            names = [e.name for e in itertools.islice(it, 2)]
    except OSError:
        return None
    if len(names) == 1 and os.path.isdir(os.path.join(path, names[0], "sos_commands")) and \
            not os.path.islink(os.path.join(path, names[0])):
        return os.path.join(path, names[0])
    return None


def _is_tar(path: str) -> bool:
    import tarfile
    import zlib
    try:
        return tarfile.is_tarfile(path)
    except (OSError, EOFError, zlib.error, tarfile.TarError):
        return False


def unpack_recording(archive: str, dest: str) -> None:
    """Unpack ``archive`` into the empty directory ``dest``, refusing anything hostile.

    Refused: absolute or ``..`` member names, devices, fifos, hard links, links
    whose target leaves the tree, duplicate members, and archives over the caps.
    Regular files are written first with O_NOFOLLOW|O_EXCL; links are made last,
    so nothing is ever written through a link.
    """
    import shutil
    import tarfile
    import zlib
    try:
        tar = tarfile.open(archive, "r:*")
    except PermissionError as exc:
        raise RootError(f"{archive}: {exc.strerror}", 3) from None
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise RootError(f"{archive}: not a readable tar archive ({exc})", 2) from None
    links: list[tuple[str, str]] = []
    members = total = 0
    try:
        with tar:
            for member in tar:
                members += 1
                total += max(member.size, 0)
                if members > MAX_MEMBERS or total > MAX_BYTES:
                    raise RootError(f"{archive}: larger than a recording may be "
                                    f"({MAX_MEMBERS} members, {MAX_BYTES >> 20} MiB); refused")
                name = _member_name(archive, member.name)
                if name is None:
                    continue
                target = os.path.join(dest, name)
                if member.isdir():
                    _makedirs(archive, dest, name)
                elif member.isreg():
                    _makedirs(archive, dest, os.path.dirname(name))
                    src = tar.extractfile(member)
                    assert src is not None
                    try:
                        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                    except FileExistsError:
                        raise RootError(f"{archive}: member {member.name!r} appears twice; refused") from None
                    with os.fdopen(fd, "wb") as out:
                        shutil.copyfileobj(src, out)
                elif member.issym():
                    link = member.linkname
                    resolved = os.path.normpath(os.path.join(os.path.dirname(name), link))
                    if os.path.isabs(link) or resolved == ".." or resolved.startswith("../"):
                        raise RootError(f"{archive}: link {member.name!r} -> {link!r} leaves the recording; refused")
                    links.append((name, link))
                else:
                    raise RootError(f"{archive}: member {member.name!r} is a "
                                    f"{'hard link' if member.islnk() else 'device or fifo'}; refused")
            for name, link in links:
                _makedirs(archive, dest, os.path.dirname(name))
                try:
                    os.symlink(link, os.path.join(dest, name))
                except FileExistsError:
                    raise RootError(f"{archive}: member {name!r} appears twice; refused") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise RootError(f"{archive}: corrupt tar archive ({exc})", 2) from None
    except OSError as exc:
        raise RootError(f"{archive}: cannot unpack ({exc.strerror or exc})", 2) from None


def _member_name(archive: str, raw: str) -> str | None:
    """The member's safe relative name, None for the archive's own top ``.``."""
    if "\0" in raw or raw.startswith("/"):
        raise RootError(f"{archive}: member {raw!r} has an absolute name; refused")
    parts = [p for p in raw.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise RootError(f"{archive}: member {raw!r} leaves the recording; refused")
    return "/".join(parts) or None


def _makedirs(archive: str, dest: str, rel: str) -> None:
    """Create ``dest/rel`` as real directories, never through a link."""
    path = dest
    for part in [p for p in rel.split("/") if p]:
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise RootError(f"{archive}: {path[len(dest) + 1:]!r} is both a file and a directory in the recording; refused")
