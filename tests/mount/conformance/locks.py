"""flock and fcntl locks (POSIX record locks and open file description locks)."""
import fcntl
import os
import struct

from harness import fd_closing, in_child, write_file

F_OFD_GETLK, F_OFD_SETLK = 36, 37


def flock_struct(ltype, start=0, length=0):
    return struct.pack("hhqqi4x", ltype, os.SEEK_SET, start, length, 0)


def getlk(fd, ltype, start=0, length=0, cmd=fcntl.F_GETLK):
    r = fcntl.fcntl(fd, cmd, flock_struct(ltype, start, length))
    t, _, s, ln, pid = struct.unpack("hhqqi4x", r)
    names = {fcntl.F_RDLCK: "RDLCK", fcntl.F_WRLCK: "WRLCK", fcntl.F_UNLCK: "UNLCK"}
    # The holder's pid differs between runs; only whether one is reported is compared.
    return "%s start=%d len=%d pid_set=%s" % (names[t], s, ln, pid != 0)


def other_process(fn):
    """fn(t) in another process: the locks of that process conflict with ours."""
    return in_child(fn, timeout=20)


def s_flock(t):
    write_file("f", b"x")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.do("flock LOCK_EX", fcntl.flock, fd, fcntl.LOCK_EX)

        def other(t):
            fd2 = os.open("f", os.O_RDONLY)
            t.do("other LOCK_EX|LOCK_NB", fcntl.flock, fd2, fcntl.LOCK_EX | fcntl.LOCK_NB)
            t.do("other LOCK_SH|LOCK_NB", fcntl.flock, fd2, fcntl.LOCK_SH | fcntl.LOCK_NB)
        t.extend(other_process(other))
        t.do("downgrade to LOCK_SH", fcntl.flock, fd, fcntl.LOCK_SH)

        def other2(t):
            fd2 = os.open("f", os.O_RDONLY)
            t.do("other LOCK_SH|LOCK_NB beside a shared lock", fcntl.flock, fd2,
                 fcntl.LOCK_SH | fcntl.LOCK_NB)
            t.do("other LOCK_EX|LOCK_NB beside a shared lock", fcntl.flock, fd2,
                 fcntl.LOCK_EX | fcntl.LOCK_NB)
        t.extend(other_process(other2))
        t.do("unlock", fcntl.flock, fd, fcntl.LOCK_UN)

        def other3(t):
            fd2 = os.open("f", os.O_RDONLY)
            t.do("other LOCK_EX|LOCK_NB after unlock", fcntl.flock, fd2,
                 fcntl.LOCK_EX | fcntl.LOCK_NB)
        t.extend(other_process(other3))
    fd = os.open("f", os.O_RDONLY)
    fd2 = os.open("f", os.O_RDONLY)
    with fd_closing(fd), fd_closing(fd2):
        t.do("LOCK_EX on one open file", fcntl.flock, fd, fcntl.LOCK_EX)
        t.do("LOCK_EX|LOCK_NB on another open file, same process", fcntl.flock, fd2,
             fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.mkdir("d")
    dfd = os.open("d", os.O_RDONLY)
    with fd_closing(dfd):
        t.do("flock a directory", fcntl.flock, dfd, fcntl.LOCK_EX)


def s_fcntl_posix(t):
    write_file("f", b"0123456789" * 10)
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.do("F_SETLK write lock 0..10", fcntl.fcntl, fd, fcntl.F_SETLK,
             flock_struct(fcntl.F_WRLCK, 0, 10))
        t.do("F_SETLK read lock 50..60", fcntl.fcntl, fd, fcntl.F_SETLK,
             flock_struct(fcntl.F_RDLCK, 50, 10))
        t.val("F_GETLK in the same process", getlk, fd, fcntl.F_WRLCK, 0, 100)

        def other(t):
            fd2 = os.open("f", os.O_RDWR)
            t.val("other F_GETLK write 0..100", getlk, fd2, fcntl.F_WRLCK, 0, 100)
            t.val("other F_GETLK read 50..60", getlk, fd2, fcntl.F_RDLCK, 50, 10)
            t.val("other F_GETLK write 20..30", getlk, fd2, fcntl.F_WRLCK, 20, 10)
            t.do("other F_SETLK write 5..6", fcntl.fcntl, fd2, fcntl.F_SETLK,
                 flock_struct(fcntl.F_WRLCK, 5, 1))
            t.do("other F_SETLK read 55..56", fcntl.fcntl, fd2, fcntl.F_SETLK,
                 flock_struct(fcntl.F_RDLCK, 55, 1))
            t.do("other F_SETLK write 20..30", fcntl.fcntl, fd2, fcntl.F_SETLK,
                 flock_struct(fcntl.F_WRLCK, 20, 10))
            t.do("other lockf LOCK_EX|LOCK_NB whole file", fcntl.lockf, fd2,
                 fcntl.LOCK_EX | fcntl.LOCK_NB)
        t.extend(other_process(other))
        t.do("F_SETLK unlock 0..10", fcntl.fcntl, fd, fcntl.F_SETLK,
             flock_struct(fcntl.F_UNLCK, 0, 10))

        def other2(t):
            fd2 = os.open("f", os.O_RDWR)
            t.do("other F_SETLK write 0..10 after unlock", fcntl.fcntl, fd2, fcntl.F_SETLK,
                 flock_struct(fcntl.F_WRLCK, 0, 10))
        t.extend(other_process(other2))
    ro = os.open("f", os.O_RDONLY)
    with fd_closing(ro):
        t.do("write lock on a read-only fd", fcntl.fcntl, ro, fcntl.F_SETLK,
             flock_struct(fcntl.F_WRLCK, 0, 1))


def s_fcntl_ofd(t):
    write_file("f", b"x" * 100)
    a = os.open("f", os.O_RDWR)
    b = os.open("f", os.O_RDWR)
    with fd_closing(a), fd_closing(b):
        t.do("OFD write lock through one open file", fcntl.fcntl, a, F_OFD_SETLK,
             flock_struct(fcntl.F_WRLCK, 0, 10))
        t.do("OFD write lock through another, same process", fcntl.fcntl, b, F_OFD_SETLK,
             flock_struct(fcntl.F_WRLCK, 5, 10))
        t.val("OFD GETLK", getlk, b, fcntl.F_WRLCK, 0, 0, F_OFD_GETLK)
