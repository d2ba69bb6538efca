#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""times.py: which timestamps each operation marks, run in the current directory.

For every operation POSIX says marks timestamps (and a few it says do not), on every
object the operation touches (the file, its directory, a second directory, a new
name): atime and mtime are first set to a day in 2001, then, 20 ms later (more than a
coarse clock's tick), the operation runs with one system call. Printed per operation
and object: which of atime, mtime and ctime moved ("a m c", "-" where one did not),
and for those that moved, whether to "now" (not before the call started, less a tick)
or to a given time. The same run on tmpfs is the reference (timestamps.sh): the two
outputs must be identical. A line per operation, so that the matrix is easy to read.
"""
import ctypes
import errno
import os
import sys
import time

OLD = 978307200  # 2001-01-01 UTC
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE = 1, 2, 0x10


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def make_file(name, size=8192):
    with open(name, "wb") as f:
        f.write(b"x" * size)


def age(*names):
    for n in names:
        os.utime(n, (OLD, OLD), follow_symlinks=False)


def moved(before, after, t0):
    """One letter per timestamp: '-' unchanged, else the letter."""
    out = []
    for letter, attr in (("a", "st_atime_ns"), ("m", "st_mtime_ns"), ("c", "st_ctime_ns")):
        b, a = getattr(before, attr), getattr(after, attr)
        if a == b:
            out.append("-")
        elif a >= t0 - 10_000_000:  # now, less a coarse tick
            out.append(letter)
        else:
            out.append(letter + "@" + str(a // 1_000_000_000))
    return " ".join(out)


def case(what, objs, op, setup=None):
    """Runs setup, ages objs, then op; prints what moved on each of objs.

    An object is a name, or a pair (name before, name after) for one that op renames.
    """
    objs = [o if isinstance(o, tuple) else (o, o) for o in objs]
    if setup:
        setup()
    age(*[b for b, _ in objs if os.path.lexists(b)])
    time.sleep(0.02)
    before = {b: os.lstat(b) for b, _ in objs if os.path.lexists(b)}
    t0 = time.time_ns()
    try:
        op()
        res = "ok"
    except OSError as e:
        res = errno.errorcode.get(e.errno, str(e.errno))
    parts = []
    for b, a in objs:
        name = b if a == b else f"{b}->{a}"
        if b not in before:
            parts.append(f"{name}: new" if os.path.lexists(a) else f"{name}: absent")
        elif not os.path.lexists(a):
            parts.append(f"{name}: gone")
        else:
            parts.append(f"{name}: {moved(before[b], os.lstat(a), t0)}")
    print(f"{what} [{res}]: " + "; ".join(parts))


def with_fd(name, flags, fn):
    def run():
        fd = os.open(name, flags)
        try:
            fn(fd)
        finally:
            os.close(fd)
    return run


def main():
    os.mkdir("d")
    os.mkdir("e")
    f = "d/f"
    D = "d"

    # open(O_TRUNC)
    case("open O_TRUNC, 8 KiB file", [f, D], lambda: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC)),
         lambda: make_file(f))
    case("open O_TRUNC, empty file", [f, D], lambda: os.close(os.open(f, os.O_WRONLY | os.O_TRUNC)),
         lambda: make_file(f, 0))
    case("open O_RDONLY", [f, D], lambda: os.close(os.open(f, os.O_RDONLY)), lambda: make_file(f))
    case("open O_CREAT of an existing file", [f, D],
         lambda: os.close(os.open(f, os.O_WRONLY | os.O_CREAT, 0o644)))
    case("creat (open O_CREAT) of a new file", [D, "d/new"],
         lambda: os.close(os.open("d/new", os.O_WRONLY | os.O_CREAT, 0o644)))
    # truncate and ftruncate: shrink, same size, grow
    for size, label in ((100, "shrink"), (8192, "same size"), (1 << 20, "grow")):
        case(f"truncate {label}", [f, D], lambda s=size: os.truncate(f, s), lambda: make_file(f))
        case(f"ftruncate {label}", [f, D],
             with_fd(f, os.O_WRONLY, lambda fd, s=size: os.ftruncate(fd, s)), lambda: make_file(f))
    # write and read
    case("write 100 bytes", [f, D], with_fd(f, os.O_WRONLY, lambda fd: os.pwrite(fd, b"y" * 100, 10)),
         lambda: make_file(f))
    case("write past the end", [f, D], with_fd(f, os.O_WRONLY, lambda fd: os.pwrite(fd, b"y", 1 << 20)),
         lambda: make_file(f))
    case("write 0 bytes", [f, D], with_fd(f, os.O_WRONLY, lambda fd: os.write(fd, b"")),
         lambda: make_file(f))
    case("read after a write (cached)", [f, D], with_fd(f, os.O_RDONLY, lambda fd: os.pread(fd, 100, 0)),
         lambda: make_file(f))
    case("read of pages not cached", [f, D], with_fd(f, os.O_RDONLY, lambda fd: os.pread(fd, 100, 0)),
         lambda: (make_file(f), drop_cache(f)))
    case("mmap store and msync", [f, D], with_fd(f, os.O_RDWR, mmap_store), lambda: make_file(f))
    # fallocate, every mode the kernel forwards
    for mode, label, off, length in ((0, "mode 0 grow", 0, 1 << 20),
                                     (0, "mode 0 inside", 0, 4096),
                                     (FALLOC_FL_KEEP_SIZE, "KEEP_SIZE past the end", 8192, 1 << 20),
                                     (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, "PUNCH_HOLE", 0, 4096),
                                     (FALLOC_FL_ZERO_RANGE, "ZERO_RANGE", 0, 4096),
                                     (FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
                                      "ZERO_RANGE|KEEP_SIZE past the end", 8192, 4096)):
        case(f"fallocate {label}", [f, D],
             with_fd(f, os.O_WRONLY, lambda fd, m=mode, o=off, n=length: fallocate(fd, m, o, n)),
             lambda: make_file(f))
    # names
    case("link", [f, D, "e", "e/l"], lambda: os.link(f, "e/l"), lambda: make_file(f))
    case("unlink of one of two links", [f, D, "e"], lambda: os.unlink("e/l"))
    case("unlink of the last link", [D], lambda: os.unlink("d/new"))
    case("symlink", [D, "d/s"], lambda: os.symlink("f", "d/s"))
    case("rename in one directory", [(f, "d/g"), D], lambda: os.rename(f, "d/g"))
    case("rename to another directory", [("d/g", "e/g"), D, "e"], lambda: os.rename("d/g", "e/g"))
    case("rename over an existing file", [("e/g", f), "e", D], lambda: os.rename("e/g", f),
         lambda: make_file(f))
    case("rename of a directory to another one", [("d/sub", "e/sub"), D, "e"],
         lambda: os.rename("d/sub", "e/sub"), lambda: os.mkdir("d/sub"))
    case("rename exchange", [(f, "e/x"), ("e/x", f), D, "e"], lambda: exchange(f, "e/x"),
         lambda: make_file("e/x"))
    case("rename over itself", [f, D], lambda: os.rename(f, f))
    case("mkdir", [D, "d/m"], lambda: os.mkdir("d/m"))
    case("rmdir", [D, "d/m"], lambda: os.rmdir("d/m"))
    case("mknod fifo", [D, "d/p"], lambda: os.mkfifo("d/p"))
    # attributes
    case("chmod", [f, D], lambda: os.chmod(f, 0o600))
    case("chown to another owner", [f, D], lambda: os.chown(f, 1234, 1234))
    case("chown -1 -1", [f, D], lambda: os.chown(f, -1, -1))
    case("utimes to given times", [f], lambda: os.utime(f, (1_000_000_000, 1_100_000_000)))
    case("utimes to now", [f], lambda: os.utime(f, None))
    case("utimes atime only (UTIME_OMIT mtime)", [f], lambda: utime_omit(f))
    case("setxattr", [f, D], lambda: os.setxattr(f, "user.t", b"1"))
    case("setxattr replace", [f, D], lambda: os.setxattr(f, "user.t", b"22"))
    case("removexattr", [f, D], lambda: os.removexattr(f, "user.t"))
    case("listxattr", [f, D], lambda: os.listxattr(f))
    # directories
    case("readdir", [D], lambda: os.listdir(D))
    case("create in a directory, then stat it", [D, "d/q"],
         lambda: os.close(os.open("d/q", os.O_CREAT | os.O_WRONLY, 0o600)))


def mmap_store(fd):
    import mmap
    m = mmap.mmap(fd, 8192, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    m[10] = ord("z")
    m.flush()
    m.close()


def drop_cache(name):
    fd = os.open(name, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)


def exchange(a, b):
    # renameat2(RENAME_EXCHANGE)
    if libc.renameat2(-100, a.encode(), -100, b.encode(), 2):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def utime_omit(name):
    # atime to a given time, mtime left alone (UTIME_OMIT), through utimensat
    class timespec(ctypes.Structure):
        _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]
    ts = (timespec * 2)(timespec(1_200_000_000, 0), timespec(0, (1 << 30) - 2))
    if libc.utimensat(-100, name.encode(), ts, 0):
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


if __name__ == "__main__":
    main()
    sys.stdout.flush()
