#!/usr/bin/env python3
"""ctime_steps.py DIR: runs a fixed sequence of changes and non-changes on
files in DIR and prints, one line per step, whether each step moved ctime and
mtime (as stat and, where a descriptor is open, fstat see them right after
the call). t_ctime.sh runs it on an ext4 directory and on the mount and
compares the two: the kernel's own file system is the reference.

Also checks what holds on any POSIX file system: a ctime that moves never
goes backwards. ext4's clock is coarse (one tick is a few ms), so steps are
spaced by a tick or two; the comparison is of outcomes, not of times.
"""
import os
import sys
import time

TICK = 0.03


def times(path, fd=None):
    st = os.stat(path)
    out = (st.st_ctime_ns, st.st_mtime_ns)
    if fd is not None:
        fst = os.fstat(fd)
        if (fst.st_ctime_ns, fst.st_mtime_ns) != out:
            sys.exit(f"ctime_steps: fstat and stat of {path} disagree: "
                     f"{(fst.st_ctime_ns, fst.st_mtime_ns)} vs {out}")
    return out


def main():
    d = sys.argv[1]
    f = os.path.join(d, "f")
    g = os.path.join(d, "g")
    f2 = os.path.join(d, "f2")
    state = {"path": f, "fd": None}
    lines = []

    def step(name, action):
        time.sleep(TICK)
        before = times(state["path"], state["fd"])
        action()
        after = times(state["path"], state["fd"])
        if after[0] < before[0]:
            sys.exit(f"ctime_steps: {name}: ctime went backwards {before[0]} -> {after[0]}")
        lines.append(f"{name}: ctime {'moved' if after[0] != before[0] else 'same'}"
                     f" mtime {'moved' if after[1] != before[1] else 'same'}")

    fd = os.open(f, os.O_CREAT | os.O_RDWR, 0o644)
    state["fd"] = fd
    step("write", lambda: os.write(fd, b"hello world\n"))
    step("pread", lambda: os.pread(fd, 5, 0))
    step("ftruncate", lambda: os.ftruncate(fd, 123))
    step("ftruncate-same-size", lambda: os.ftruncate(fd, 123))
    step("pwrite-middle", lambda: os.pwrite(fd, b"x", 50))
    step("fallocate-grow", lambda: os.posix_fallocate(fd, 0, 8192))
    step("fchmod-open", lambda: os.chmod(f, 0o640))
    step("futimens-open", lambda: os.utime(fd, ns=(10**18, 10**18)))
    step("write-after-utime", lambda: os.write(fd, b"y"))

    def close():
        os.close(fd)
        state["fd"] = None
    step("close", close)

    def read_whole():
        with open(f, "rb") as r:
            r.read()
    step("open-read-close", read_whole)

    def open_rw_close():
        os.close(os.open(f, os.O_RDWR))
    step("open-rdwr-close", open_rw_close)
    step("chmod", lambda: os.chmod(f, 0o600))
    step("chmod-same", lambda: os.chmod(f, 0o600))
    step("chown", lambda: os.chown(f, os.getuid(), os.getgid()))
    step("utime", lambda: os.utime(f, ns=(10**18, 2 * 10**18)))
    step("utime-now", lambda: os.utime(f))
    step("link", lambda: os.link(f, g))
    step("unlink-other-name", lambda: os.unlink(g))
    step("setxattr", lambda: os.setxattr(f, "user.a", b"1"))
    step("getxattr", lambda: os.getxattr(f, "user.a"))
    step("removexattr", lambda: os.removexattr(f, "user.a"))
    step("truncate-path", lambda: os.truncate(f, 10))

    def rename():
        os.rename(f, f2)
        state["path"] = f2
    step("rename", rename)

    def append_and_close():
        with open(f2, "ab") as a:
            a.write(b"tail")
    step("append-and-close", append_and_close)

    # a write's ctime is the one stat shows after close and after a while
    fd2 = os.open(f2, os.O_WRONLY)
    os.write(fd2, b"Z")
    at_write = times(f2, fd2)
    os.close(fd2)
    after_close = times(f2)
    lines.append("write-then-close: " +
                 ("kept" if after_close == at_write else "changed at close"))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
