"""open/create/read/write, O_APPEND, O_TRUNC, O_EXCL, truncate, names, fsync, statfs."""
import os

from harness import fd_closing, random_bytes, read_file, write_file


def s_create_read_write(t):
    fd = t.do("open O_CREAT|O_WRONLY 0640", os.open, "f", os.O_CREAT | os.O_WRONLY, 0o640)
    t.fstat(fd, "new")
    t.val("write hello", os.write, fd, b"hello")
    t.fstat(fd, "new")
    t.val("read on O_WRONLY", os.read, fd, 1)
    t.val("pwrite past the end", os.pwrite, fd, b"tail", 10)
    t.fstat(fd, "new")
    os.close(fd)
    t.stat("f")
    t.content("f")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.val("pread 0", os.pread, fd, 100, 0)
        t.val("pread inside the gap", os.pread, fd, 3, 6)
        t.val("pread past EOF", os.pread, fd, 10, 100)
        t.val("lseek SEEK_END", os.lseek, fd, 0, os.SEEK_END)
        t.val("lseek negative", os.lseek, fd, -100, os.SEEK_SET)
        t.val("lseek far past EOF", os.lseek, fd, 1 << 40, os.SEEK_SET)
        t.val("read at that offset", os.read, fd, 4)
        t.val("write on a read-only fd", os.write, os.open("f", os.O_RDONLY), b"x")
    t.stat("f")


def s_overwrite_middle(t):
    data = random_bytes(1 << 20, 1)
    write_file("f", data)
    t.stat("f")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.val("pwrite 5 bytes at 300000", os.pwrite, fd, b"XXXXX", 300000)
        t.val("pread around it", os.pread, fd, 9, 299998)
        t.fstat(fd, "f")
        t.val("pwrite across the end", os.pwrite, fd, b"Y" * 100, (1 << 20) - 50)
    t.stat("f")
    t.content("f")


def s_o_excl(t):
    write_file("f", b"x")
    t.do("O_CREAT|O_EXCL on an existing file", os.open, "f", os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    fd = t.do("O_CREAT|O_EXCL on a new name", os.open, "g", os.O_CREAT | os.O_EXCL | os.O_WRONLY,
              0o600)
    os.close(fd)
    t.stat("g")
    os.symlink("missing", "dangling")
    t.do("O_CREAT|O_EXCL through a dangling symlink", os.open, "dangling",
         os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    t.lstat("dangling")
    t.do("O_CREAT through a dangling symlink", lambda: os.close(
        os.open("dangling", os.O_CREAT | os.O_WRONLY, 0o644)))
    t.stat("missing")
    os.mkdir("d")
    t.do("O_CREAT|O_EXCL on a directory", os.open, "d", os.O_CREAT | os.O_EXCL | os.O_WRONLY)


def s_o_trunc(t):
    write_file("f", b"some content")
    t.stat("f")
    t.do("open O_TRUNC|O_WRONLY", lambda: os.close(os.open("f", os.O_WRONLY | os.O_TRUNC)))
    t.stat("f")
    t.content("f")
    t.do("open O_TRUNC of an empty file", lambda: os.close(os.open("f", os.O_WRONLY | os.O_TRUNC)))
    t.stat("f")
    write_file("g", b"more content")
    t.stat("g")
    t.do("open O_TRUNC|O_RDONLY", lambda: os.close(os.open("g", os.O_RDONLY | os.O_TRUNC)))
    t.stat("g")
    write_file("h", b"abc")
    t.stat("h")
    t.do("open O_RDWR without O_TRUNC, close", lambda: os.close(os.open("h", os.O_RDWR)))
    t.stat("h")
    t.content("h")


def s_o_append(t):
    write_file("f", b"abc")
    fd = os.open("f", os.O_WRONLY | os.O_APPEND)
    with fd_closing(fd):
        os.lseek(fd, 0, os.SEEK_SET)
        t.val("write after lseek 0", os.write, fd, b"XY")
        t.val("position after", os.lseek, fd, 0, os.SEEK_CUR)
        t.val("pwrite at 0 on O_APPEND (Linux appends)", os.pwrite, fd, b"P", 0)
    t.content("f")
    a = os.open("f", os.O_WRONLY | os.O_APPEND)
    b = os.open("f", os.O_WRONLY | os.O_APPEND)
    for i in range(3):
        os.write(a, b"a%d" % i)
        os.write(b, b"b%d" % i)
    plain = os.open("f", os.O_WRONLY)
    t.val("plain pwrite at 1 beside the appenders", os.pwrite, plain, b"!", 1)
    os.write(a, b"END")
    for fd in (a, b, plain):
        os.close(fd)
    t.content("f")
    t.stat("f")


def s_truncate(t):
    write_file("f", b"0123456789")
    t.stat("f")
    t.do("truncate to 4", os.truncate, "f", 4)
    t.stat("f")
    t.content("f")
    t.do("truncate to 4 again (same size)", os.truncate, "f", 4)
    t.stat("f")
    t.do("truncate to 20 (extend)", os.truncate, "f", 20)
    t.stat("f")
    t.content("f")
    t.do("truncate to -1", os.truncate, "f", -1)
    t.do("truncate a missing file", os.truncate, "missing", 0)
    os.mkdir("d")
    t.do("truncate a directory", os.truncate, "d", 0)
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.do("ftruncate to 2", os.ftruncate, fd, 2)
        t.fstat(fd, "f")
        t.val("read after ftruncate", os.pread, fd, 10, 0)
        t.do("ftruncate to 3 (extend)", os.ftruncate, fd, 3)
        t.val("pwrite after it", os.pwrite, fd, b"Z", 5)
        t.val("read back", os.pread, fd, 10, 0)
        t.fstat(fd, "f")
    t.stat("f")
    t.content("f")
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.do("ftruncate on a read-only fd", os.ftruncate, fd, 0)
    t.content("f")


def s_wrong_type(t):
    os.mkdir("d")
    write_file("f", b"x")
    t.do("open a directory O_WRONLY", os.open, "d", os.O_WRONLY)
    t.do("open a directory O_RDWR", os.open, "d", os.O_RDWR)
    t.do("open a directory O_CREAT", os.open, "d", os.O_CREAT | os.O_RDONLY)
    fd = os.open("d", os.O_RDONLY)
    with fd_closing(fd):
        t.do("read from a directory fd", os.read, fd, 10)
    t.do("open file/ (trailing slash)", os.open, "f/", os.O_RDONLY)
    t.do("open file/child", os.open, "f/x", os.O_RDONLY)
    t.do("create file/child", os.open, "f/x", os.O_CREAT | os.O_WRONLY)
    t.do("O_DIRECTORY on a file", os.open, "f", os.O_RDONLY | os.O_DIRECTORY)
    t.do("unlink a directory", os.unlink, "d")
    t.do("rmdir a file", os.rmdir, "f")
    t.do("mkdir file/child", os.mkdir, "f/x")
    t.do("stat file/.", os.stat, "f/.")


def s_enoent(t):
    t.do("open a missing file", os.open, "missing", os.O_RDONLY)
    t.do("open in a missing directory", os.open, "nodir/f", os.O_RDONLY)
    t.do("create in a missing directory", os.open, "nodir/f", os.O_CREAT | os.O_WRONLY)
    t.do("stat a missing file", os.stat, "missing")
    t.do("unlink a missing file", os.unlink, "missing")
    t.do("rmdir a missing directory", os.rmdir, "missing")
    t.do("stat empty path", os.stat, "")
    t.do("chmod a missing file", os.chmod, "missing", 0o644)
    t.ls()


def s_names(t):
    names = [b"a" * 255, ("\u00e9" * 127).encode() + b"x", b"\xff\xfe\x80 not utf-8",
             b"with\nnewline", b" leading space", b"tab\there", b"*?[]\\'\"$", b"-dash",
             b"...", b"\x01\x7f"]
    for n in names:
        t.do("create %r" % n[:20], lambda n=n: write_file(n, n))
    for n in names:
        t.val("read %r" % n[:20], lambda n=n: open(n, "rb").read() == n)
    t.val("listing", lambda: sorted(os.listdir(b".")) == sorted(names))
    long = b"b" * 256
    t.do("create a 256-byte name", os.open, long, os.O_CREAT | os.O_WRONLY)
    t.do("mkdir a 256-byte name", os.mkdir, long)
    t.do("symlink to a 256-byte name", os.symlink, b"t", long)
    t.do("link to a 256-byte name", os.link, names[0], long)
    t.do("rename to a 256-byte name", os.rename, names[0], long)
    t.do("stat a 256-byte name", os.stat, long)
    t.do("mkdir a 255-byte name", os.mkdir, b"d" * 255)
    t.do("rename to a 255-byte name", os.rename, names[1], b"r" * 255)
    t.do("path longer than PATH_MAX", os.stat, b"/".join([b"d" * 255] * 17))
    t.do("create a name with 256 bytes in utf-8", os.open, ("\u00e9" * 128).encode(),
         os.O_CREAT | os.O_WRONLY)
    t.ls()


def s_fsync(t):
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.write(fd, b"data")
        t.do("fsync", os.fsync, fd)
        t.do("fdatasync", os.fdatasync, fd)
        t.fstat(fd, "f")
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.do("fsync a read-only fd", os.fsync, fd)
    os.mkdir("d")
    fd = os.open("d", os.O_RDONLY | os.O_DIRECTORY)
    with fd_closing(fd):
        t.do("fsync a directory (fsyncdir)", os.fsync, fd)
    fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY)
    with fd_closing(fd):
        t.do("fsync the scenario directory", os.fsync, fd)
    t.content("f")


def s_statfs(t):
    s = os.statvfs(".")
    # The figures are the storage's, so they move with everything else on it; what must
    # hold is their shape, the name limit, and (the wrapper keeps the reference and the
    # bucket on one file system) the total size of that storage.
    t.note("bsize>0: %s frsize>0: %s" % (s.f_bsize > 0, s.f_frsize > 0))
    t.note("blocks>0: %s bfree<=blocks: %s bavail<=bfree: %s" %
           (s.f_blocks > 0, s.f_bfree <= s.f_blocks, s.f_bavail <= s.f_bfree))
    t.note("namemax: %d" % s.f_namemax)
    t.note("total GiB: %d" % (s.f_blocks * s.f_frsize >> 30))
    fd = os.open(".", os.O_RDONLY)
    with fd_closing(fd):
        t.val("fstatvfs namemax", lambda: os.fstatvfs(fd).f_namemax)


def s_coherence(t):
    """What one descriptor wrote, every other descriptor and process reads at once."""
    from harness import in_child
    w = os.open("f", os.O_CREAT | os.O_WRONLY, 0o644)
    r = os.open("f", os.O_RDONLY)
    with fd_closing(w), fd_closing(r):
        os.write(w, b"first")
        t.val("another fd reads it", os.pread, r, 100, 0)
        t.extend(in_child(lambda c: c.val("another process reads it", read_file, "f"), 20))
        os.pwrite(w, b"FI", 0)
        t.val("an overwrite, another fd", os.pread, r, 100, 0)
        t.extend(in_child(lambda c: c.val("an overwrite, another process",
                                                read_file, "f"), 20))
        big = random_bytes(3 << 20, 11)
        os.pwrite(w, big, 1 << 20)
        t.val("3 MiB at 1 MiB, another fd", lambda: os.pread(r, 3 << 20, 1 << 20) == big)
        t.fstat(r, "reader")

        def child_writes(c):
            fd = os.open("f", os.O_WRONLY)
            os.pwrite(fd, b"CHILD", 2)
            os.close(fd)
            c.note("child wrote and closed")
        t.extend(in_child(child_writes, 20))
        t.val("the parent's fd reads the child's write", os.pread, r, 10, 0)
    t.content("f")
