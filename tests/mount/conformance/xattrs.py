"""Extended attributes: set/get/list/remove, XATTR_CREATE/REPLACE, ENODATA, ERANGE."""
import ctypes
import os

from harness import _check, fd_closing, libc, write_file

libc.getxattr.restype = ctypes.c_ssize_t
libc.listxattr.restype = ctypes.c_ssize_t


def getxattr_sized(path, name, size):
    """getxattr(2) with an exact buffer size (0 asks for the length)."""
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.getxattr(os.fsencode(path), name.encode(), buf if size else None,
                      ctypes.c_size_t(size))
    if n < 0:
        _check(-1)
    return n if size == 0 else buf.raw[:n]


def listxattr_sized(path, size):
    buf = ctypes.create_string_buffer(max(size, 1))
    n = libc.listxattr(os.fsencode(path), buf if size else None, ctypes.c_size_t(size))
    if n < 0:
        _check(-1)
    return n if size == 0 else sorted(buf.raw[:n].split(b"\0")[:-1])


def s_set_get_list_remove(t):
    write_file("f", b"x")
    t.val("list of a new file", lambda: sorted(os.listxattr("f")))
    t.stat("f")
    t.do("set user.a", os.setxattr, "f", "user.a", b"alpha")
    t.stat("f")
    t.val("get user.a", os.getxattr, "f", "user.a")
    t.do("set user.empty to b''", os.setxattr, "f", "user.empty", b"")
    t.val("get user.empty", os.getxattr, "f", "user.empty")
    binary = bytes(range(256)) * 8
    t.do("set a 2 KiB binary value", os.setxattr, "f", "user.bin", binary)
    t.val("get it", os.getxattr, "f", "user.bin")
    t.val("list", lambda: sorted(os.listxattr("f")))
    t.do("replace user.a", os.setxattr, "f", "user.a", b"beta")
    t.val("get user.a", os.getxattr, "f", "user.a")
    t.do("remove user.a", os.removexattr, "f", "user.a")
    t.stat("f")
    t.val("list", lambda: sorted(os.listxattr("f")))
    t.content("f")


def s_flags_and_errors(t):
    write_file("f", b"x")
    os.setxattr("f", "user.a", b"1")
    t.do("XATTR_CREATE on an existing name", os.setxattr, "f", "user.a", b"2", os.XATTR_CREATE)
    t.do("XATTR_REPLACE on a missing name", os.setxattr, "f", "user.b", b"2", os.XATTR_REPLACE)
    t.do("XATTR_CREATE on a new name", os.setxattr, "f", "user.c", b"3", os.XATTR_CREATE)
    t.do("XATTR_REPLACE on an existing name", os.setxattr, "f", "user.a", b"4",
         os.XATTR_REPLACE)
    t.val("values", lambda: [os.getxattr("f", n) for n in ("user.a", "user.c")])
    t.do("get a missing name", os.getxattr, "f", "user.missing")
    t.do("remove a missing name", os.removexattr, "f", "user.missing")
    t.val("size query (buffer 0)", getxattr_sized, "f", "user.a", 0)
    os.setxattr("f", "user.long", b"0123456789")
    t.do("get into a too small buffer", getxattr_sized, "f", "user.long", 3)
    t.val("get into an exact buffer", getxattr_sized, "f", "user.long", 10)
    t.val("list size query", listxattr_sized, "f", 0)
    t.do("list into a too small buffer", listxattr_sized, "f", 4)
    t.val("list into a big buffer", listxattr_sized, "f", 4096)
    t.do("a name of 256 bytes", os.setxattr, "f", "user." + "n" * 251, b"v")
    t.do("a name of 255 bytes", os.setxattr, "f", "user." + "n" * 250, b"v")
    t.do("an empty user. name", os.setxattr, "f", "user.", b"v")
    t.do("an unknown namespace", os.setxattr, "f", "bogus.name", b"v")
    t.do("get an unknown namespace", os.getxattr, "f", "bogus.name")
    t.do("set on a missing file", os.setxattr, "missing", "user.a", b"v")
    t.do("a value of 70000 bytes", os.setxattr, "f", "user.huge", b"v" * 70000)


def s_dirs_links_fds(t):
    os.mkdir("d")
    t.do("set on a directory", os.setxattr, "d", "user.d", b"dir value")
    t.val("get on a directory", os.getxattr, "d", "user.d")
    write_file("f", b"x")
    os.symlink("f", "link")
    t.do("set through a symlink", os.setxattr, "link", "user.via", b"v")
    t.val("it landed on the target", os.getxattr, "f", "user.via")
    t.do("set user.* on the symlink itself", os.setxattr, "link", "user.on", b"v",
         follow_symlinks=False)
    t.val("list of the symlink itself", lambda: sorted(os.listxattr("link",
                                                                    follow_symlinks=False)))
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.do("fsetxattr on a read-only fd", os.setxattr, fd, "user.fd", b"v")
        t.val("fgetxattr", os.getxattr, fd, "user.fd")
        t.val("flistxattr", lambda: sorted(os.listxattr(fd)))
        t.do("fremovexattr", os.removexattr, fd, "user.fd")
    os.link("f", "hard")
    t.val("a hard link shares them", lambda: sorted(os.listxattr("hard")))
    os.rename("f", "renamed")
    t.val("a rename keeps them", lambda: sorted(os.listxattr("renamed")))

