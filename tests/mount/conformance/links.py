"""Hard links and link counts, unlink (also while open), symlink/readlink, ELOOP."""
import os

from harness import fd_closing, write_file


def s_hard_links(t):
    write_file("a", b"shared")
    t.stat("a")
    t.do("link", os.link, "a", "b")
    t.stat("a")
    t.same_inode("a", "b")
    with open("b", "r+b") as f:
        f.write(b"SH")
    t.content("a")
    t.stat("a")
    t.do("link over an existing name", os.link, "a", "b")
    t.do("link a missing file", os.link, "missing", "c")
    os.mkdir("d")
    t.do("link a directory", os.link, "d", "d2")
    t.do("link into a missing directory", os.link, "a", "nodir/c")
    t.do("link into a subdirectory", os.link, "a", "d/c")
    t.stat("a")
    t.do("unlink one name", os.unlink, "b")
    t.stat("a")
    t.stat("d/c")
    t.do("unlink another", os.unlink, "a")
    t.stat("d/c")
    t.content("d/c")
    t.ls()


def s_link_symlink(t):
    write_file("target", b"t")
    os.symlink("target", "sym")
    t.do("link() of a symlink links the symlink", os.link, "sym", "h1", follow_symlinks=False)
    t.lstat("h1")
    t.lstat("sym")
    t.do("linkat AT_SYMLINK_FOLLOW links the target", os.link, "sym", "h2", follow_symlinks=True)
    t.lstat("h2")
    t.stat("target")


def s_unlink_open(t):
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.write(fd, b"before unlink")
        t.stat(".")
        t.do("unlink while open", os.unlink, "f")
        t.stat(".")
        t.val("read after unlink", os.pread, fd, 100, 0)
        t.val("write after unlink", os.pwrite, fd, b"AFTER", 0)
        t.val("read again", os.pread, fd, 100, 0)
        t.fstat(fd, "unlinked")
    t.ls()
    write_file("g", b"g")
    os.link("g", "g2")
    fd = os.open("g", os.O_RDONLY)
    with fd_closing(fd):
        os.unlink("g")
        t.fstat(fd, "g with one name left")
        os.unlink("g2")
        t.fstat(fd, "g with no name left")


def s_symlinks(t):
    write_file("target", b"pointed at")
    t.stat(".")
    t.do("symlink", os.symlink, "target", "link")
    t.stat(".")
    t.lstat("link")
    t.stat("link")
    t.val("readlink", os.readlink, "link")
    t.content("link")
    t.do("symlink over an existing name", os.symlink, "x", "link")
    t.do("readlink of a file", os.readlink, "target")
    t.do("readlink of a missing name", os.readlink, "missing")
    t.do("dangling symlink", os.symlink, "does/not/exist", "dangling")
    t.lstat("dangling")
    t.stat("dangling")
    t.do("open a dangling symlink", os.open, "dangling", os.O_RDONLY)
    t.val("readlink dangling", os.readlink, "dangling")
    t.do("symlink with an empty target", os.symlink, "", "empty")
    odd = b"\xff\xfe odd \n bytes"
    t.do("symlink to an odd target", os.symlink, odd, b"odd")
    t.val("readlink odd", os.readlink, b"odd")
    t.lstat(b"odd")
    long = "L" * 4095
    t.do("symlink with a 4095-byte target", os.symlink, long, "long")
    t.val("readlink 4095", lambda: len(os.readlink("long")))
    t.lstat("long")
    t.do("symlink with a 4096-byte target", os.symlink, "L" * 4096, "toolong")
    os.mkdir("dir")
    write_file("dir/in", b"in")
    t.do("symlink to a directory", os.symlink, "dir", "dirlink")
    t.content("dirlink/in")
    t.do("rmdir of a symlink to a directory", os.rmdir, "dirlink")
    t.do("unlink of dirlink/ (trailing slash)", os.unlink, "dirlink/")
    t.do("unlink of a symlink to a directory", os.unlink, "dirlink")
    t.do("relative symlink up", os.symlink, "../target", "dir/up")
    t.content("dir/up")
    t.ls()


def s_eloop(t):
    os.symlink("b", "a")
    os.symlink("a", "b")
    t.do("open a symlink loop", os.open, "a", os.O_RDONLY)
    t.do("stat a symlink loop", os.stat, "a")
    t.lstat("a")
    write_file("target", b"t")
    os.symlink("target", "link")
    t.do("open O_NOFOLLOW of a symlink", os.open, "link", os.O_RDONLY | os.O_NOFOLLOW)
    fd = t.do("open O_PATH|O_NOFOLLOW of a symlink", os.open, "link",
              os.O_PATH | os.O_NOFOLLOW)
    if fd:
        t.fstat(fd, "O_PATH")
        os.close(fd)
    prev = "target"
    for i in range(45):
        os.symlink(prev, "c%d" % i)
        prev = "c%d" % i
    t.content("c30")
    t.do("open through 41 symlinks", os.open, "c40", os.O_RDONLY)
    t.do("open through 45 symlinks", os.open, "c44", os.O_RDONLY)
    t.do("mkdir through a loop", os.mkdir, "a/x")
