"""mkdir/rmdir, opendir/readdir with d_type, directory link counts, a removed cwd."""
import os

from harness import fd_closing, write_file


def s_mkdir_rmdir(t):
    t.stat(".")
    t.do("mkdir d 0777 (umask 022)", os.mkdir, "d", 0o777)
    t.stat("d")
    t.stat(".")
    t.do("mkdir d again", os.mkdir, "d")
    write_file("f")
    t.do("mkdir over a file", os.mkdir, "f")
    t.do("mkdir in a missing directory", os.mkdir, "nodir/d")
    t.do("mkdir d/ (trailing slash) of a new name", os.mkdir, "e/")
    t.stat("e")
    t.do("mkdir with the sticky bit", os.mkdir, "sticky", 0o1777)
    t.stat("sticky")
    write_file("d/child")
    t.do("rmdir a non-empty directory", os.rmdir, "d")
    t.do("rmdir .", os.rmdir, "d/.")
    t.do("rmdir ..", os.rmdir, "d/..")
    t.stat("d")
    os.unlink("d/child")
    t.stat("d")
    t.do("rmdir the now empty directory", os.rmdir, "d")
    t.stat(".")
    t.do("stat after rmdir", os.stat, "d")
    t.ls()


def s_dir_nlink(t):
    os.mkdir("d")
    t.stat("d")
    os.mkdir("d/a")
    t.stat("d")
    os.mkdir("d/b")
    os.mkdir("d/c")
    write_file("d/file")
    t.stat("d")
    os.rmdir("d/b")
    t.stat("d")
    os.rename("d/c", "moved")
    t.stat("d")
    t.stat("moved")
    t.stat(".")


def s_readdir_types(t):
    os.mkdir("dir")
    write_file("file", b"x")
    os.symlink("file", "link")
    os.symlink("nowhere", "dangling")
    os.link("file", "hardlink")
    t.ls()
    t.ls("dir")
    t.do("listdir of a file", os.listdir, "file")
    t.do("opendir of a symlink to a file", os.listdir, "link")
    os.symlink("dir", "dirlink")
    t.val("listdir through a symlink to a directory", os.listdir, "dirlink")


def s_readdir_many(t):
    names = ["entry-%04d-%s" % (i, "x" * (i % 200)) for i in range(400)]
    for n in names:
        write_file(n)
    t.val("all 400 listed", lambda: sorted(os.listdir(".")) == sorted(names))
    t.val("scandir count", lambda: sum(1 for _ in os.scandir(".")))
    for n in names[::2]:
        os.unlink(n)
    t.val("after removing half", lambda: sorted(os.listdir(".")) == sorted(names[1::2]))
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    with fd_closing(fd):
        t.val("listdir by fd", lambda: len(os.listdir(fd)))
        t.fstat(fd, "dir")


def s_rmdir_cwd(t):
    os.mkdir("d")
    here = os.getcwd()
    os.chdir("d")
    t.do("rmdir of the cwd by name", os.rmdir, "../d")
    t.do("create in the removed cwd", os.open, "f", os.O_CREAT | os.O_WRONLY)
    t.do("mkdir in the removed cwd", os.mkdir, "sub")
    t.val("listdir of the removed cwd", os.listdir, ".")
    t.do("stat .", os.stat, ".")
    t.val("nlink of the removed cwd", lambda: os.stat(".").st_nlink)
    os.chdir(here)
    os.mkdir("e")
    os.chdir("e")
    t.do("rmdir . from inside", os.rmdir, ".")
    os.chdir(here)
    t.ls()


def s_fchdir_openat(t):
    os.mkdir("d")
    write_file("d/f", b"via dir fd")
    fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
    with fd_closing(fd):
        t.val("stat at dir fd", lambda: os.stat("f", dir_fd=fd).st_size)
        f = t.do("open at dir fd", os.open, "f", os.O_RDONLY, dir_fd=fd)
        t.val("read", os.read, f, 100)
        os.close(f)
        t.do("mkdir at dir fd", os.mkdir, "sub", dir_fd=fd)
        t.do("unlink at dir fd", os.unlink, "f", dir_fd=fd)
        t.do("rmdir at dir fd", os.rmdir, "sub", dir_fd=fd)
        os.fchdir(fd)
        t.val("cwd after fchdir ends in d", lambda: os.getcwd().endswith("/d"))
        t.ls()
