"""The conformance harness: scenarios run on a reference file system and on the mount.

A scenario is a function `s_NAME(t)` in one of the family modules. It runs in its own
process with its working directory set to a fresh, empty directory, performs system calls
with relative paths, and records what it observes in `t` (a Transcript): return values,
errno names, normalised stat fields, contents, listings. The runner runs each scenario on
the reference directory (the kernel's own file system, ext4) and on the katamarifs mount
and compares the two transcripts line by line.

Everything a transcript records must be something both file systems are expected to agree
on. What legitimately differs is never recorded; each such omission below carries its
reason. Nothing else is normalised.
"""
import ctypes
import errno
import hashlib
import json
import os
import select
import signal
import stat
import struct
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIME_NOW = (1 << 30) - 1
UTIME_OMIT = (1 << 30) - 2
FALLOC_FL_KEEP_SIZE = 1
FALLOC_FL_PUNCH_HOLE = 2
CLOCK_REALTIME_COARSE = 5
SYS_getdents64 = {"x86_64": 217, "aarch64": 61}[os.uname().machine]
NOBODY = (65534, 65534)  # uid, gid of `nobody` (Debian)
OTHER_GID = 4321         # a group nobody is not a member of

libc.renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint]
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.syscall.restype = ctypes.c_long


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


def _check(r):
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return None


def _b(path):
    return path if isinstance(path, bytes) else os.fsencode(path)


def renameat2(src, dst, flags):
    return _check(libc.renameat2(AT_FDCWD, _b(src), AT_FDCWD, _b(dst), flags))


def fallocate(fd, mode, offset, length):
    return _check(libc.fallocate(fd, mode, offset, length))


def utimensat(path, atime, mtime, nofollow=False):
    """atime/mtime: (sec, nsec) or UTIME_NOW / UTIME_OMIT."""
    def ts(v):
        return Timespec(0, v) if isinstance(v, int) else Timespec(*v)
    times = (Timespec * 2)(ts(atime), ts(mtime))
    return _check(libc.utimensat(AT_FDCWD, _b(path), times, 0x100 if nofollow else 0))


def getdents(path):
    """[(name, d_type)] exactly as the file system reports them, '.' and '..' included."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        out = []
        buf = ctypes.create_string_buffer(65536)
        while True:
            n = libc.syscall(SYS_getdents64, fd, buf, len(buf))
            if n < 0:
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            if n == 0:
                return out
            raw, pos = buf.raw[:n], 0
            while pos < n:
                reclen, dtype = struct.unpack_from("<HB", raw, pos + 16)
                name = raw[pos + 19:pos + reclen].split(b"\0", 1)[0]
                out.append((name, dtype))
                pos += reclen
    finally:
        os.close(fd)


DTYPES = {0: "unknown", 1: "fifo", 2: "chr", 4: "dir", 6: "blk", 8: "reg", 10: "lnk", 12: "sock"}


def kind(mode):
    for test, name in ((stat.S_ISREG, "reg"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "lnk"),
                       (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "sock"), (stat.S_ISCHR, "chr"),
                       (stat.S_ISBLK, "blk")):
        if test(mode):
            return name
    return "?"


def blocks_class(st):
    # st_blocks in exact numbers differs legitimately (ext4 allocates 4 KiB blocks plus
    # metadata blocks, katamarifs counts what its chunks hold); what both must agree on is
    # whether a file holds nothing, much less than its size (a sparse file), or about its
    # size. Tests that look at blocks use incompressible data.
    held = st.st_blocks * 512
    if held == 0:
        return "none"
    return "partial" if held < st.st_size // 2 else "full"


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def show(v):
    if isinstance(v, bytes) and len(v) > 48:
        return "%d bytes sha256:%s" % (len(v), hashlib.sha256(v).hexdigest()[:16])
    if isinstance(v, (list, tuple)) and len(repr(v)) > 400:
        return "%d items sha256:%s" % (len(v), hashlib.sha256(repr(v).encode()).hexdigest()[:16])
    return repr(v)


def wait_for_clock_past(ns):
    """Waits until both the coarse and the fine clock are past `ns`, so that any time
    stamp taken from now on is later than one taken before (ext4 stamps from the coarse
    clock, the daemon from the fine one). A condition, not a guess: at most one tick."""
    while time.clock_gettime_ns(CLOCK_REALTIME_COARSE) <= ns or time.time_ns() <= ns:
        time.sleep(0.0005)


class Transcript:
    def __init__(self, sink=None):
        self.lines = []
        self._times = {}
        self.skip_blocks = False  # set by a scenario for steps whose st_blocks differ by design
        self._sink = sink  # a pipe to the parent: each line goes out as it is recorded

    def note(self, line):
        self.lines.append(str(line))
        if self._sink is not None:
            self._sink.write(json.dumps(str(line)).encode() + b"\n")
            self._sink.flush()

    def extend(self, lines):
        for line in lines:
            self.note(line)

    def do(self, label, fn, *args, **kw):
        """Runs fn; records `label: ok` or `label: ERRNO`. Returns the result or None."""
        try:
            r = fn(*args, **kw)
        except OSError as e:
            self.note("%s: %s" % (label, errname(e)))
            return None
        self.note("%s: ok" % label)
        return r if r is not None else True

    def val(self, label, fn, *args, **kw):
        """Like do, but records the returned value too."""
        try:
            r = fn(*args, **kw)
        except OSError as e:
            self.note("%s: %s" % (label, errname(e)))
            return None
        self.note("%s: %s" % (label, show(r)))
        return r

    def _stat_line(self, key, st):
        k = kind(st.st_mode)
        f = ["%s mode=%04o nlink=%d uid=%d gid=%d" % (k, stat.S_IMODE(st.st_mode), st.st_nlink,
                                                      st.st_uid, st.st_gid)]
        # A directory's st_size is the file system's own business (ext4: bytes of its
        # blocks); POSIX leaves it unspecified.
        if k != "dir":
            f.append("size=%d" % st.st_size)
        if k == "reg" and not self.skip_blocks:
            f.append("blocks=%s" % blocks_class(st))
        if k in ("chr", "blk"):
            f.append("rdev=%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))
        # st_ino, st_dev, st_blksize: numbers each file system picks; atime: ext4 is
        # mounted relatime, katamarifs keeps its own atime policy. Never recorded.
        prev = self._times.get(key)
        if prev is not None:
            f.append("mtime=%s ctime=%s" % ("changed" if st.st_mtime_ns != prev[0] else "same",
                                            "changed" if st.st_ctime_ns != prev[1] else "same"))
        self._times[key] = (st.st_mtime_ns, st.st_ctime_ns)
        wait_for_clock_past(max(st.st_mtime_ns, st.st_ctime_ns, time.time_ns()))
        return " ".join(f)

    def stat(self, path, follow=True, label=None):
        """Records the normalised stat of path; mtime/ctime: changed or same since the
        previous stat of the same path in this scenario."""
        label = label or ("stat " if follow else "lstat ") + show(path)
        try:
            st = os.stat(path, follow_symlinks=follow)
        except OSError as e:
            self.note("%s: %s" % (label, errname(e)))
            return None
        self.note("%s: %s" % (label, self._stat_line(("s", follow, path), st)))
        return st

    def lstat(self, path):
        return self.stat(path, follow=False)

    def forget_times(self, path):
        """The next stat of path records no mtime/ctime comparison."""
        for key in [k for k in self._times if k[-1] == path]:
            del self._times[key]

    def fstat(self, fd, label):
        try:
            st = os.fstat(fd)
        except OSError as e:
            self.note("fstat %s: %s" % (label, errname(e)))
            return None
        self.note("fstat %s: %s" % (label, self._stat_line(("f", label), st)))
        return st

    def times(self, path, follow=True):
        """Records the exact atime and mtime (for scenarios that set them)."""
        try:
            st = os.stat(path, follow_symlinks=follow)
        except OSError as e:
            self.note("times %s: %s" % (show(path), errname(e)))
            return
        self.note("times %s: atime=%d mtime=%d" % (show(path), st.st_atime_ns, st.st_mtime_ns))

    def content(self, path):
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            self.note("content %s: %s" % (show(path), errname(e)))
            return None
        self.note("content %s: %s" % (show(path), show(data)))
        return data

    def ls(self, path="."):
        """Records a directory's entries (sorted; '.' and '..' included) with their d_type.
        d_ino is not recorded: inode numbers are each file system's own."""
        try:
            ents = sorted(getdents(path))
        except OSError as e:
            self.note("ls %s: %s" % (show(path), errname(e)))
            return None
        def name(n):
            return repr(n)[2:-1] if len(n) < 40 else "<%d bytes>" % len(n)
        self.note("ls %s: %s" % (show(path), " ".join("%s:%s" % (name(n), DTYPES.get(d, d))
                                                       for n, d in ents)))
        return [n for n, _ in ents]

    def same_inode(self, a, b):
        """Whether two names are one inode (the numbers themselves are not compared)."""
        try:
            sa, sb = os.lstat(a), os.lstat(b)
        except OSError as e:
            self.note("same inode %s %s: %s" % (a, b, errname(e)))
            return
        self.note("same inode %s %s: %s" % (a, b, sa.st_ino == sb.st_ino and sa.st_dev == sb.st_dev))

    def as_user(self, label, fn, uid=NOBODY[0], gid=NOBODY[1], groups=()):
        """Runs fn(t) in a child process with another identity and appends what it
        records. Needs root; when the harness itself runs unprivileged it records that
        instead (the same on both sides)."""
        if os.geteuid() != 0:
            self.note("%s: (not root, cannot switch user)" % label)
            return
        self.note("%s: as uid %d" % (label, uid))
        self.extend(in_child(lambda t: (os.setgroups(list(groups)), os.setgid(gid),
                                        os.setuid(uid), fn(t)), timeout=30))

    def as_nobody(self, label, fn):
        return self.as_user(label, fn)


def in_child(fn, timeout):
    """Runs fn(Transcript) in a forked process; returns its lines. A child that does not
    finish in `timeout` seconds (a hung call) is killed: its lines so far are kept and
    TIMEOUT is added after them."""
    try:  # reap children abandoned by earlier timeouts, if they have died by now
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        with os.fdopen(w, "wb") as sink:
            t = Transcript(sink)
            try:
                fn(t)
            except BaseException as e:  # noqa: BLE001 - reported through the transcript
                t.note("EXCEPTION %s: %s" % (type(e).__name__, e))
                code = 1
        os._exit(code)
    os.close(w)
    data, deadline = b"", time.monotonic() + timeout
    with os.fdopen(r, "rb") as f:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([f], [], [], left)[0]:
                # Not waited for: a process stuck in a FUSE request the daemon never
                # answers cannot die until the mount goes away (the wrapper's cleanup).
                os.kill(pid, signal.SIGKILL)
                return _lines(data) + ["TIMEOUT after %d s (killed)" % timeout]
            b = os.read(f.fileno(), 1 << 20)
            if not b:
                break
            data += b
    os.waitpid(pid, 0)
    return _lines(data)


def _lines(data):
    return [json.loads(line) for line in data.split(b"\n") if line]


def write_file(path, data=b"", mode=0o644):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def random_bytes(n, seed):
    """Incompressible, reproducible bytes (the same on both sides)."""
    out, block, i = bytearray(), hashlib.sha256(b"%d" % seed).digest(), 0
    while len(out) < n:
        out += hashlib.sha512(block + i.to_bytes(8, "little")).digest()
        i += 1
    return bytes(out[:n])


def fd_closing(fd):
    class C:
        def __enter__(self):
            return fd

        def __exit__(self, *a):
            os.close(fd)
    return C()


def is_root():
    return os.geteuid() == 0


def die(msg):
    print(msg, file=sys.stderr)
    sys.exit(2)
