"""chmod/chown/utimens (one time alone, UTIME_NOW/UTIME_OMIT), set-id bits on chown."""
import os

from harness import NOBODY, OTHER_GID, UTIME_NOW, UTIME_OMIT, fd_closing, is_root, utimensat, \
    write_file


def s_chmod(t):
    write_file("f", b"x")
    t.stat("f")
    for mode in (0o600, 0o000, 0o777, 0o4755, 0o2755, 0o1755, 0o7777, 0o644):
        t.do("chmod %04o" % mode, os.chmod, "f", mode)
        t.stat("f")
    t.do("chmod with file-type bits", os.chmod, "f", 0o100600)
    t.stat("f")
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.do("fchmod 0640 on a read-only fd", os.fchmod, fd, 0o640)
        t.fstat(fd, "f")
    os.symlink("f", "link")
    t.do("chmod through a symlink", os.chmod, "link", 0o604)
    t.stat("f")
    t.lstat("link")
    os.mkdir("d")
    t.do("chmod a directory 0700", os.chmod, "d", 0o700)
    t.stat("d")
    t.do("chmod a directory 3777", os.chmod, "d", 0o3777)
    t.stat("d")


def s_chown(t):
    write_file("f", b"x")
    t.stat("f")
    t.do("chown -1 -1", os.chown, "f", -1, -1)
    t.stat("f")
    t.do("chown to own ids", os.chown, "f", os.geteuid(), os.getegid())
    t.stat("f")
    t.do("chown to nobody", os.chown, "f", NOBODY[0], -1)
    t.stat("f")
    t.do("chgrp to a group the caller is not in", os.chown, "f", -1, OTHER_GID)
    t.stat("f")
    t.do("chown to root", os.chown, "f", 0, 0)
    t.stat("f")
    os.symlink("f", "link")
    t.lstat("link")
    t.do("lchown a symlink", os.lchown, "link", -1, OTHER_GID)
    t.lstat("link")
    t.stat("f")
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.do("fchown", os.fchown, fd, -1, os.getegid())
        t.fstat(fd, "f")
    os.mkdir("d")
    t.do("chown a directory", os.chown, "d", NOBODY[0], NOBODY[1])
    t.stat("d")


def s_setid_cleared_on_chown(t):
    for name, mode in (("suid", 0o4755), ("sgid", 0o2755), ("sgid_noexec", 0o2745),
                       ("both", 0o6777), ("suid_noexec", 0o4644)):
        write_file(name, b"x")
        os.chmod(name, mode)
        t.stat(name)
        t.do("chown %s to nobody" % name, os.chown, name, NOBODY[0], -1)
        t.stat(name)
        t.do("chown %s -1 -1" % name, os.chown, name, -1, -1)
        t.stat(name)
    os.mkdir("dir")
    os.chmod("dir", 0o6755)
    t.do("chown a set-id directory", os.chown, "dir", NOBODY[0], -1)
    t.stat("dir")


def s_utimens(t):
    write_file("f", b"x")
    t.stat("f")
    t.do("utime both", os.utime, "f", ns=(1000000000123456789, 1100000000987654321))
    t.times("f")
    t.stat("f")
    t.do("atime alone (mtime UTIME_OMIT)", utimensat, "f", (1200000000, 5), UTIME_OMIT)
    t.times("f")
    t.stat("f")
    t.do("mtime alone (atime UTIME_OMIT)", utimensat, "f", UTIME_OMIT, (1300000000, 7))
    t.times("f")
    t.stat("f")
    t.do("both UTIME_OMIT", utimensat, "f", UTIME_OMIT, UTIME_OMIT)
    t.times("f")
    t.stat("f")
    t.do("mtime UTIME_NOW", utimensat, "f", UTIME_OMIT, UTIME_NOW)
    t.stat("f")
    st = os.stat("f")
    t.val("atime kept", lambda: st.st_atime_ns == 1200000000000000005)
    t.do("both UTIME_NOW", utimensat, "f", UTIME_NOW, UTIME_NOW)
    t.stat("f")
    t.val("atime == mtime after both NOW", lambda: os.stat("f").st_atime_ns ==
          os.stat("f").st_mtime_ns)
    t.do("before 1970", os.utime, "f", ns=(-86400 * 365 * 10**9 - 1, -1))
    t.times("f")
    t.do("after 2038", os.utime, "f", ns=(2**32 * 10**9 + 1, 2**33 * 10**9 + 999999999))
    t.times("f")
    # Past what a file system can represent, times are clamped to its largest (ext4:
    # 2446, katamarifs: 2262, nanoseconds in 64 bits); which one differs, but never
    # may the time wrap around into the past.
    t.do("mtime 2^34 s", os.utime, "f", ns=(0, 2**34 * 10**9))
    t.val("clamped into the future, not wrapped", lambda: os.stat("f").st_mtime > 2**33)
    t.do("tv_nsec out of range", utimensat, "f", (0, 1000000000), (0, 0))
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.do("futimens", os.utime, fd, ns=(5, 6))
        t.times("f")
    os.symlink("f", "link")
    t.do("utimensat AT_SYMLINK_NOFOLLOW", utimensat, "link", (7, 8), (9, 10), nofollow=True)
    t.times("link", follow=False)
    t.times("f")
    os.mkdir("d")
    t.do("utime a directory", os.utime, "d", ns=(11, 12))
    t.times("d")
    t.do("utime a missing file", os.utime, "missing", ns=(1, 1))


def s_times_of_changes(t):
    """mtime and ctime of a file and its directory after each kind of change."""
    t.stat(".")
    write_file("f", b"x")
    t.stat(".")
    t.stat("f")
    for label, op in (("write", lambda: open("f", "ab").write(b"y")),
                      ("chmod", lambda: os.chmod("f", 0o600)),
                      ("chown to self", lambda: os.chown("f", os.geteuid(), -1)),
                      ("link", lambda: os.link("f", "g")),
                      ("unlink of the other name", lambda: os.unlink("g")),
                      ("rename", lambda: os.rename("f", "f2")),
                      ("rename back", lambda: os.rename("f2", "f")),
                      ("setxattr", lambda: os.setxattr("f", "user.t", b"v")),
                      ("removexattr", lambda: os.removexattr("f", "user.t")),
                      ("read", lambda: open("f", "rb").read()),
                      ("utime", lambda: os.utime("f", ns=(10**18, 10**18)))):
        t.do(label, op)
        t.stat("f")
        t.stat(".")


def s_times_while_open(t):
    """fstat and stat of a file held open show each change at once."""
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        t.fstat(fd, "f")
        t.stat("f")
        for label, op in (("write", lambda: os.write(fd, b"abc")),
                          ("ftruncate 123", lambda: os.ftruncate(fd, 123)),
                          ("pwrite", lambda: os.pwrite(fd, b"z", 5)),
                          ("fchmod", lambda: os.fchmod(fd, 0o640)),
                          ("fsetxattr", lambda: os.setxattr(fd, "user.x", b"1")),
                          ("ftruncate same size", lambda: os.ftruncate(fd, 123))):
            t.do(label, op)
            t.fstat(fd, "f")
            t.stat("f")


def s_mknod_regular(t):
    import stat
    t.do("mknod S_IFREG", os.mknod, "f", stat.S_IFREG | 0o640)
    t.stat("f")
    t.do("mknod existing", os.mknod, "f", stat.S_IFREG | 0o640)
    t.content("f")
    t.note("root: %s" % is_root())
