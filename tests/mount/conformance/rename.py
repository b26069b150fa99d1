"""rename(2) and renameat2 (RENAME_NOREPLACE, RENAME_EXCHANGE) with their errors."""
import os

from harness import RENAME_EXCHANGE, RENAME_NOREPLACE, fd_closing, renameat2, write_file


def s_rename_file(t):
    write_file("a", b"content of a")
    t.stat("a")
    t.stat(".")
    t.do("rename to a free name", os.rename, "a", "b")
    t.stat("b")
    t.stat(".")
    t.do("stat the old name", os.stat, "a")
    t.content("b")
    t.do("rename to itself", os.rename, "b", "b")
    t.stat("b")
    t.do("rename a missing name", os.rename, "missing", "c")
    t.do("rename into a missing directory", os.rename, "b", "nodir/b")
    t.do("rename through a file", os.rename, "b", "b/x")
    t.ls()


def s_rename_over_file(t):
    write_file("src", b"new content")
    write_file("dst", b"old content, longer")
    t.stat("src")
    keep = os.open("dst", os.O_RDONLY)
    with fd_closing(keep):
        t.do("rename over an existing file", os.rename, "src", "dst")
        t.stat("dst")
        t.content("dst")
        t.val("the old target through an open fd", os.pread, keep, 100, 0)
        t.fstat(keep, "old dst")
    t.ls()


def s_rename_dirs(t):
    os.makedirs("a/sub")
    os.mkdir("empty")
    os.mkdir("full")
    write_file("full/x")
    write_file("file")
    t.stat("a")
    t.do("rename a directory over a file", os.rename, "a", "file")
    t.do("rename a file over a directory", os.rename, "file", "empty")
    t.do("rename a directory over a non-empty one", os.rename, "a", "full")
    t.do("rename a directory into itself", os.rename, "a", "a/sub/a")
    t.do("rename a directory onto its child", os.rename, "a", "a/sub")
    t.do("rename . ", os.rename, ".", "dot")
    t.do("rename a directory over an empty one", os.rename, "a", "empty")
    t.stat("empty")
    t.ls()
    t.ls("empty")
    os.mkdir("other")
    t.stat(".")
    t.stat("other")
    t.do("move a directory to another parent", os.rename, "empty/sub", "other/sub")
    t.stat("empty")
    t.stat("other")
    t.stat("other/sub")
    t.val("parent of the moved directory", lambda: os.path.samestat(
        os.stat("other/sub/.."), os.stat("other")))
    t.do("rename dir/ with a trailing slash", os.rename, "other/", "renamed/")
    t.do("rename file with a trailing slash", os.rename, "file/", "file2")
    t.ls()


def s_rename_hardlinks(t):
    write_file("a", b"x")
    os.link("a", "b")
    t.do("rename one link onto the other (no-op)", os.rename, "a", "b")
    t.ls()
    t.stat("a")
    t.same_inode("a", "b")


def s_rename_symlink(t):
    write_file("target", b"t")
    os.symlink("target", "link")
    t.do("rename a symlink", os.rename, "link", "link2")
    t.val("readlink after", os.readlink, "link2")
    t.content("link2")
    t.do("rename a file over a symlink", os.rename, "target", "link2")
    t.lstat("link2")
    t.ls()


def s_rename_open_file(t):
    fd = os.open("a", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.write(fd, b"written before")
        t.do("rename while open for writing", os.rename, "a", "b")
        os.write(fd, b", and after")
        t.val("read through the fd", os.pread, fd, 100, 0)
    t.content("b")
    t.do("old name", os.stat, "a")


def s_noreplace(t):
    write_file("a", b"a")
    write_file("b", b"b")
    os.mkdir("d")
    t.do("RENAME_NOREPLACE over a file", renameat2, "a", "b", RENAME_NOREPLACE)
    t.do("RENAME_NOREPLACE over a directory", renameat2, "a", "d", RENAME_NOREPLACE)
    t.do("RENAME_NOREPLACE to a free name", renameat2, "a", "c", RENAME_NOREPLACE)
    t.do("RENAME_NOREPLACE of a missing name", renameat2, "a", "e", RENAME_NOREPLACE)
    t.do("NOREPLACE|EXCHANGE", renameat2, "b", "c", RENAME_NOREPLACE | RENAME_EXCHANGE)
    t.content("b")
    t.content("c")
    t.ls()


def s_exchange(t):
    write_file("a", b"content a")
    write_file("b", b"content bb")
    os.mkdir("d")
    write_file("d/inside", b"i")
    # one mtime for both, so "mtime changed" below means the exchange changed it
    os.utime("a", ns=(10**18, 10**18))
    os.utime("b", ns=(10**18, 10**18))
    t.stat("a")
    t.stat("b")
    t.do("RENAME_EXCHANGE two files", renameat2, "a", "b", RENAME_EXCHANGE)
    t.content("a")
    t.content("b")
    t.stat("a")
    t.stat("b")
    t.do("RENAME_EXCHANGE a file and a directory", renameat2, "a", "d", RENAME_EXCHANGE)
    t.stat("a")
    t.stat("d")
    t.ls("a")
    t.content("d")
    t.do("RENAME_EXCHANGE with a missing name", renameat2, "b", "missing", RENAME_EXCHANGE)
    os.mkdir("x")
    t.do("RENAME_EXCHANGE across directories", renameat2, "b", "a/inside", RENAME_EXCHANGE)
    t.content("b")
    t.content("a/inside")
    t.do("RENAME_EXCHANGE a directory with its own child", renameat2, "a", "a/inside",
         RENAME_EXCHANGE)
    t.ls()
