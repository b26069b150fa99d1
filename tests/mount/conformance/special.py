"""Special files: fifos, character and block devices (root), Unix sockets."""
import os
import socket
import stat

from harness import NOBODY, fd_closing, is_root, renameat2, RENAME_NOREPLACE


def s_mkfifo(t):
    t.stat(".")
    t.do("mkfifo", os.mkfifo, "fifo", 0o640)
    t.stat(".")
    t.lstat("fifo")
    t.do("mkfifo over an existing name", os.mkfifo, "fifo")
    r = os.open("fifo", os.O_RDONLY | os.O_NONBLOCK)
    w = os.open("fifo", os.O_WRONLY | os.O_NONBLOCK)
    with fd_closing(r), fd_closing(w):
        t.val("write into the fifo", os.write, w, b"through the pipe")
        t.val("read from the fifo", os.read, r, 100)
        t.fstat(r, "fifo read end")
    t.lstat("fifo")
    t.do("open the fifo O_WRONLY|O_NONBLOCK without a reader", os.open, "fifo",
         os.O_WRONLY | os.O_NONBLOCK)
    t.do("truncate a fifo", os.truncate, "fifo", 0)
    t.ls()


def s_mknod_fifo(t):
    t.do("mknod S_IFIFO", os.mknod, "p", stat.S_IFIFO | 0o600)
    t.lstat("p")


def s_device_nodes(t):
    t.do("mknod a character device 1:3", os.mknod, "null", stat.S_IFCHR | 0o666,
         os.makedev(1, 3))
    t.lstat("null")
    t.do("mknod a block device 7:200", os.mknod, "blk", stat.S_IFBLK | 0o600,
         os.makedev(7, 200))
    t.lstat("blk")
    t.do("mknod a character device 4:64 (ttyS0)", os.mknod, "tty", stat.S_IFCHR | 0o620,
         os.makedev(4, 64))
    t.lstat("tty")
    t.ls()
    if is_root():
        # Opening a device node on a file system mounted nodev (FUSE mounts are) is
        # EACCES; ext4 here is not nodev, so opening is not compared.
        t.val("rdev kept", lambda: os.major(os.lstat("null").st_rdev))


def s_socket_bind(t):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        t.do("bind a Unix socket", s.bind, "sock")
        t.lstat("sock")
        t.do("listen", s.listen, 1)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        t.do("connect to it by path", c.connect, "sock")
        conn = None
        try:
            conn, _ = s.accept()
            c.sendall(b"over the socket")
            t.val("received", conn.recv, 100)
        except OSError as e:
            t.note("accept: %s" % e)
        finally:
            c.close()
            if conn:
                conn.close()
    finally:
        s.close()
    s2 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    t.do("bind over an existing socket file", s2.bind, "sock")
    s2.close()
    t.do("open a socket file", os.open, "sock", os.O_RDONLY)
    t.ls()


def s_special_entry_ops(t):
    """chmod/chown/utimens/link/rename/unlink on special entries, like any entry."""
    t.do("mkfifo", os.mkfifo, "fifo", 0o600)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    t.do("bind", s.bind, "sock")
    s.close()
    if is_root():
        t.do("mknod chr", os.mknod, "chr", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    for name in ("fifo", "sock") + (("chr",) if is_root() else ()):
        t.lstat(name)
        t.do("chmod %s 0604" % name, os.chmod, name, 0o604)
        t.lstat(name)
        if is_root():
            t.do("chown %s" % name, os.chown, name, NOBODY[0], NOBODY[1])
            t.lstat(name)
        t.do("utime %s" % name, os.utime, name, ns=(123456789, 987654321))
        t.times(name, follow=False)
        t.do("setxattr user.* on %s" % name, os.setxattr, name, "user.x", b"1")
        t.do("link %s" % name, os.link, name, name + ".link")
        t.lstat(name)
        t.do("rename %s" % name, os.rename, name, name + ".moved")
        t.lstat(name + ".moved")
        t.do("rename NOREPLACE onto its link", renameat2, name + ".moved", name + ".link",
             RENAME_NOREPLACE)
        t.ls()
        t.do("unlink %s" % name, os.unlink, name + ".moved")
        t.lstat(name + ".link")
        t.do("unlink the link", os.unlink, name + ".link")
    t.ls()
