"""mmap reads and writes: shared and private mappings, coherence with read/write."""
import mmap
import os

from harness import fd_closing, in_child, random_bytes, write_file


def s_shared_write(t):
    data = random_bytes(3 * 4096 + 100, 2)
    write_file("f", data)
    t.stat("f")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        m = mmap.mmap(fd, len(data))
        m[10:15] = b"HELLO"
        m[4096 * 3:4096 * 3 + 3] = b"END"
        t.val("msync", m.flush)
        t.val("read() sees the mapped write", os.pread, fd, 5, 10)
        os.pwrite(fd, b"WORLD", 20)
        t.val("the mapping sees a write()", lambda: m[20:25])
        m.close()
    t.stat("f")
    t.content("f")
    t.val("another process reads the result", lambda: in_child(
        lambda c: c.note(open("f", "rb").read()[:30].hex()), 20))


def s_read_mapping(t):
    data = random_bytes(20000, 3)
    write_file("f", data)
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        m = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
        t.val("mapped length", len, m)
        t.val("whole mapping equals the content", lambda: m[:] == data)
        t.val("a slice", lambda: m[19990:])
        m.close()
        t.do("writable shared mapping of a read-only fd", mmap.mmap, fd, 0,
             prot=mmap.PROT_READ | mmap.PROT_WRITE)
        t.do("private writable mapping of a read-only fd", lambda: mmap.mmap(
            fd, 0, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE).close())


def s_private_mapping(t):
    write_file("f", b"original content")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        m = mmap.mmap(fd, 0, flags=mmap.MAP_PRIVATE)
        m[0:4] = b"PRIV"
        t.val("private mapping shows its write", lambda: m[:8])
        m.close()
    t.content("f")


def s_mapping_after_growth(t):
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.ftruncate(fd, 8192)
        m = mmap.mmap(fd, 8192)
        m[8000:8004] = b"grow"
        m.flush()
        m.close()
        os.ftruncate(fd, 16384)
        m = mmap.mmap(fd, 16384)
        m[16380:16384] = b"more"
        t.val("bytes of the grown part", lambda: m[8190:8200])
        m.close()
    t.stat("f")
    t.content("f")
