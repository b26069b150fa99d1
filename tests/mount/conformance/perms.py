"""Permission rules: mode bits, directory write/search, sticky directories, owner-only
calls, set-id bits cleared on write and chmod, moving directories, protected links.

Run as root, the scenarios check each rule as `nobody` against root's files (in child
processes); run as `nobody`, against its own files (no root bypass)."""
import os

from harness import NOBODY, OTHER_GID, RENAME_EXCHANGE, UTIME_NOW, fd_closing, is_root, \
    renameat2, utimensat, write_file

R, W = os.O_RDONLY, os.O_WRONLY


def try_open(t, label, path, flags):
    t.do(label, lambda: os.close(os.open(path, flags)))


def s_owner_mode_bits(t):
    write_file("f", b"x")
    for mode in (0o000, 0o200, 0o400, 0o060, 0o006):
        os.chmod("f", mode)
        try_open(t, "read a %04o file of one's own" % mode, "f", R)
        try_open(t, "write a %04o file of one's own" % mode, "f", W)
        t.val("access R_OK|W_OK %04o" % mode, os.access, "f", os.R_OK | os.W_OK)
    os.chmod("f", 0o644)
    t.val("access X_OK of 0644", os.access, "f", os.X_OK)
    os.mkdir("d")
    write_file("d/child", b"c")
    for mode in (0o000, 0o300, 0o600, 0o500):
        os.chmod("d", mode)
        t.do("list a %04o dir" % mode, os.listdir, "d")
        t.do("stat a child of a %04o dir" % mode, os.stat, "d/child")
        try_open(t, "create in a %04o dir" % mode, "d/new%o" % mode, os.O_CREAT | W)
        t.do("unlink in a %04o dir" % mode, os.unlink, "d/new%o" % mode)
    os.chmod("d", 0o755)


def s_other_user_mode_bits(t):
    for name, mode, gid in (("private", 0o600, 0), ("world_read", 0o604, 0),
                            ("world_write", 0o602, 0), ("group_read", 0o640, NOBODY[1]),
                            ("group_only", 0o060, NOBODY[1]), ("owner_bits_rw", 0o660, 0)):
        write_file(name, b"data")
        if is_root():
            os.chown(name, 0, gid)
        os.chmod(name, mode)

    def as_other(t):
        for name in ("private", "world_read", "world_write", "group_read", "group_only",
                     "owner_bits_rw"):
            try_open(t, "read %s" % name, name, R)
            try_open(t, "write %s" % name, name, W)
            t.do("truncate %s" % name, os.truncate, name, 0)
    t.as_user("nobody with its group", as_other, groups=[NOBODY[1]])


def s_dir_write_rules(t):
    os.mkdir("closed", 0o755)
    write_file("closed/f", b"root's")
    os.mkdir("closed/sub")
    os.mkdir("open", 0o777)
    os.chmod("open", 0o777)
    write_file("open/f", b"root's")

    def as_other(t):
        try_open(t, "create in a 0755 dir of another", "closed/new", os.O_CREAT | W)
        t.do("mkdir in it", os.mkdir, "closed/newdir")
        t.do("unlink in it", os.unlink, "closed/f")
        t.do("rmdir in it", os.rmdir, "closed/sub")
        t.do("rename in it", os.rename, "closed/f", "closed/g")
        t.do("symlink in it", os.symlink, "x", "closed/sym")
        t.do("link into it", os.link, "open/f", "closed/hl")
        t.do("unlink another's file in a 0777 dir", os.unlink, "open/f")
        try_open(t, "create in a 0777 dir", "open/mine", os.O_CREAT | W)
        t.do("rename own file in a 0777 dir", os.rename, "open/mine", "open/m2")
    t.as_nobody("nobody", as_other)
    t.ls("closed")
    t.ls("open")


def s_sticky(t):
    os.mkdir("tmp")
    os.chmod("tmp", 0o1777)
    write_file("tmp/roots", b"root's file")
    os.mkdir("tmp/rootdir")
    write_file("tmp/own", b"own file")
    t.do("owner deletes own file in a 1777 dir", os.unlink, "tmp/own")

    def as_other(t):
        t.do("delete another's file in a 1777 dir", os.unlink, "tmp/roots")
        t.do("rename another's file in a 1777 dir", os.rename, "tmp/roots", "tmp/taken")
        t.do("rmdir another's dir in a 1777 dir", os.rmdir, "tmp/rootdir")
        write_file("tmp/mine", b"nobody's")
        t.do("rename own file over another's in a 1777 dir", os.rename, "tmp/mine", "tmp/roots")
        t.do("RENAME_EXCHANGE own with another's", renameat2,
             "tmp/mine", "tmp/roots", RENAME_EXCHANGE)
        t.do("rename own file in a 1777 dir", os.rename, "tmp/mine", "tmp/mine2")
        t.do("delete own file in a 1777 dir", os.unlink, "tmp/mine2")
        write_file("tmp/left", b"nobody's, left for root")
    t.as_nobody("nobody", as_other)
    if is_root():
        t.do("root deletes nobody's file in a 1777 dir", os.unlink, "tmp/left")
    t.ls("tmp")
    t.content("tmp/roots")


def s_owner_only_calls(t):
    write_file("ro", b"x")
    os.chmod("ro", 0o644)
    write_file("rw", b"x")
    os.chmod("rw", 0o666)

    def as_other(t):
        t.do("chmod another's file", os.chmod, "ro", 0o777)
        t.do("chown another's file to self", os.chown, "ro", NOBODY[0], -1)
        t.do("chgrp another's file", os.chown, "ro", -1, NOBODY[1])
        t.do("utime explicit on another's writable file", os.utime, "rw", ns=(1, 1))
        t.do("utime NOW on another's writable file", utimensat, "rw", UTIME_NOW, UTIME_NOW)
        t.do("utime NOW on another's read-only file", utimensat, "ro", UTIME_NOW, UTIME_NOW)
        t.do("user xattr on another's read-only file", os.setxattr, "ro", "user.a", b"v")
        t.do("user xattr on another's writable file", os.setxattr, "rw", "user.a", b"v")
        t.do("remove that xattr", os.removexattr, "rw", "user.a")
        t.do("truncate another's read-only file", os.truncate, "ro", 0)
        t.do("truncate another's writable file", os.truncate, "rw", 0)
    t.as_nobody("nobody", as_other)
    t.stat("ro")
    t.stat("rw")

    # as the file's owner but not root: chown away, chgrp to a group one is not in
    write_file("own", b"x")
    if is_root():
        os.chown("own", NOBODY[0], NOBODY[1])

    def as_owner(t):
        t.do("give one's file away", os.chown, "own", 0, -1)
        t.do("chgrp to a group one is not in", os.chown, "own", -1, OTHER_GID)
        t.do("chgrp to one's own group", os.chown, "own", -1, NOBODY[1])
        t.do("chmod one's file", os.chmod, "own", 0o600)
    t.as_nobody("nobody owning", as_owner)
    t.stat("own")


def s_setid_cleared_on_write(t):
    cases = (("suid", 0o4777), ("sgid_gx", 0o2777), ("sgid_nogx", 0o2767), ("both", 0o6777))
    for name, mode in cases:
        write_file(name, b"0123456789")
        os.chmod(name, mode)
        t.stat(name)

    def as_other(t):
        for name, _ in cases:
            fd = os.open(name, os.O_WRONLY)
            with fd_closing(fd):
                t.val("write %s" % name, os.write, fd, b"w")
            t.stat(name)
    t.as_nobody("nobody", as_other)
    for name, mode in cases:
        os.chmod(name, mode)
        t.stat(name)
        t.do("owner truncates %s" % name, os.truncate, name, 3)
        t.stat(name)
        os.chmod(name, mode)
        with open(name, "ab") as f:
            f.write(b"owner")
        t.stat(name)

    def as_other2(t):
        t.do("truncate by another", os.truncate, "both", 1)
        t.stat("both")
    os.chmod("both", 0o6777)
    t.as_nobody("nobody truncates", as_other2)


def s_setgid_chmod_by_nonmember(t):
    write_file("f", b"x")
    if is_root():
        os.chown("f", NOBODY[0], OTHER_GID)

    def as_owner(t):
        t.do("chmod 2755 of one's file in a group one is not in", os.chmod, "f", 0o2755)
        t.stat("f")
        t.do("chmod 4755", os.chmod, "f", 0o4755)
        t.stat("f")
    t.as_nobody("nobody", as_owner)
    os.mkdir("d")
    if is_root():
        os.chown("d", NOBODY[0], OTHER_GID)

    def as_dir_owner(t):
        t.do("chmod 2755 of one's directory in a group one is not in", os.chmod, "d", 0o2755)
        t.stat("d")
    t.as_nobody("nobody", as_dir_owner)


def s_moving_directories(t):
    for d in ("a", "b"):
        os.mkdir(d)
        os.chmod(d, 0o777)
    os.mkdir("a/roots")
    write_file("a/rootfile", b"x")

    def as_other(t):
        t.do("move another's directory to another parent", os.rename, "a/roots", "b/roots")
        t.do("rename another's directory in place", os.rename, "a/roots", "a/renamed")
        t.do("move another's file to another parent", os.rename, "a/rootfile", "b/rootfile")
        os.mkdir("a/mine")
        t.do("move one's own directory to another parent", os.rename, "a/mine", "b/mine")
    t.as_nobody("nobody", as_other)
    t.ls("a")
    t.ls("b")


def s_protected_links(t):
    sysctl = {}
    for name in ("protected_hardlinks", "protected_symlinks", "protected_regular"):
        with open("/proc/sys/fs/" + name) as f:
            sysctl[name] = f.read().strip()
    t.note("sysctl %s" % sysctl)
    write_file("secret", b"s")
    os.chmod("secret", 0o600)
    os.mkdir("tmp")
    os.chmod("tmp", 0o1777)
    write_file("tmp/rootfile", b"r")

    def as_other(t):
        t.do("hard link to another's unreadable file", os.link, "secret", "tmp/hl")
        t.do("symlink in a 1777 dir", os.symlink, "../secret", "tmp/nobodys_link")
        write_file("tmp/nobodys_file", b"n")
        os.chmod("tmp/nobodys_file", 0o666)
    t.as_nobody("nobody", as_other)
    if is_root():
        try_open(t, "root follows nobody's symlink in a 1777 dir", "tmp/nobodys_link", R)
        try_open(t, "root O_CREAT of nobody's file in a 1777 dir", "tmp/nobodys_file",
                 os.O_CREAT | W)
    t.ls("tmp")
