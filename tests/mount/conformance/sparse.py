"""fallocate (allocate, keep-size, punch hole), sparse files (SEEK_DATA/SEEK_HOLE,
st_blocks), huge sizes (EFBIG) and instant truncates.

Data and holes are placed on 1 MiB boundaries: both file systems may report holes at any
granularity up to that, and must agree beyond it."""
import os

from harness import FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocate, fd_closing, \
    random_bytes, write_file

MiB = 1 << 20


def seek_map(t, fd, label, size):
    """Records the data and hole extents lseek reports, from 0 to the end."""
    out, pos = [], 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            out.append("no data from %d (%s)" % (pos, e.strerror))
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        out.append("data %d..%d" % (data, hole))
        pos = hole
    t.note("%s: %s" % (label, ", ".join(out)))
    t.val("%s: SEEK_HOLE at 0" % label, os.lseek, fd, 0, os.SEEK_HOLE)
    t.val("%s: SEEK_DATA at the end" % label, os.lseek, fd, size, os.SEEK_DATA)
    t.val("%s: SEEK_HOLE past the end" % label, os.lseek, fd, size + 1, os.SEEK_HOLE)


def make_sparse(fd):
    # data [0, 1M), hole [1M, 4M), data [4M, 5M), hole [5M, 8M)
    os.pwrite(fd, random_bytes(MiB, 4), 0)
    os.pwrite(fd, random_bytes(MiB, 5), 4 * MiB)
    os.ftruncate(fd, 8 * MiB)


def s_seek_data_hole(t):
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        make_sparse(fd)
        seek_map(t, fd, "while open", 8 * MiB)
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        seek_map(t, fd, "after close", 8 * MiB)
        t.val("a read inside the hole", os.pread, fd, 8, 2 * MiB)
    t.stat("f")
    write_file("dense", random_bytes(MiB, 6))
    fd = os.open("dense", os.O_RDONLY)
    with fd_closing(fd):
        seek_map(t, fd, "a dense file", MiB)


def s_st_blocks(t):
    fd = os.open("sparse", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        make_sparse(fd)
    t.stat("sparse")
    fd = os.open("hole_only", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.ftruncate(fd, 64 * MiB)
    t.stat("hole_only")
    write_file("dense", random_bytes(2 * MiB, 7))
    t.stat("dense")
    write_file("empty")
    t.stat("empty")
    fd = os.open("tail", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.pwrite(fd, random_bytes(4096, 8), 32 * MiB)
    t.stat("tail")


def s_fallocate(t):
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        t.stat("f")
        # fallocate reserves no space in a deduplicating store: the range stays a
        # hole until written (docs/semantics.md, The live tree), so st_blocks is
        # not compared until real data is written.
        t.skip_blocks = True
        t.do("fallocate 0..2M", fallocate, fd, 0, 0, 2 * MiB)
        t.stat("f")
        t.val("allocated bytes read as zeros", lambda: os.pread(fd, 2 * MiB, 0) == bytes(2 * MiB))
        t.do("fallocate KEEP_SIZE up to 6M", fallocate, fd, FALLOC_FL_KEEP_SIZE, 0, 6 * MiB)
        t.stat("f")
        t.do("posix_fallocate 3M..4M", os.posix_fallocate, fd, 3 * MiB, MiB)
        t.stat("f")
        os.pwrite(fd, random_bytes(4 * MiB, 9), 0)
        t.skip_blocks = False
        t.do("punch a hole 1M..2M", fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
             MiB, MiB)
        t.stat("f")
        t.val("the hole reads as zeros", lambda: os.pread(fd, MiB, MiB) == bytes(MiB))
        t.val("the data beside it", lambda: os.pread(fd, 8, MiB - 4))
        t.do("punch a hole without KEEP_SIZE", fallocate, fd, FALLOC_FL_PUNCH_HOLE, 0, 10)
        t.do("punch past the end", fallocate, fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
             3 * MiB, 10 * MiB)
        t.stat("f")
        t.do("fallocate a negative length", fallocate, fd, 0, 0, -1)
        t.do("fallocate a zero length", fallocate, fd, 0, 0, 0)
    t.content("f")
    ro = os.open("f", os.O_RDONLY)
    with fd_closing(ro):
        t.do("fallocate on a read-only fd", fallocate, ro, 0, 0, MiB)
    os.mkdir("d")
    dfd = os.open("d", os.O_RDONLY)
    with fd_closing(dfd):
        t.do("fallocate a directory", fallocate, dfd, 0, 0, 1)
    fd = os.open("punched", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.pwrite(fd, random_bytes(8 * MiB, 10), 0)
        fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, MiB, 6 * MiB)
        seek_map(t, fd, "punched, open", 8 * MiB)
    fd = os.open("punched", os.O_RDONLY)
    with fd_closing(fd):
        seek_map(t, fd, "punched, closed", 8 * MiB)
    t.stat("punched")


def s_efbig_truncate(t):
    write_file("f", b"x")
    t.do("truncate to 999999999999999", os.truncate, "f", 999999999999999)
    t.do("truncate to 2^63-1", os.truncate, "f", (1 << 63) - 1)
    t.stat("f")
    t.content("f")


def s_efbig_ftruncate(t):
    write_file("f", b"x")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.do("ftruncate to 999999999999999", os.ftruncate, fd, 999999999999999)
        t.fstat(fd, "f")
    t.stat("f")


def s_efbig_write(t):
    write_file("f", b"x")
    fd = os.open("f", os.O_RDWR)
    with fd_closing(fd):
        t.do("pwrite at 2^50", os.pwrite, fd, b"x", 1 << 50)
        t.do("fallocate at 2^50", fallocate, fd, 0, 1 << 50, 1)
        t.fstat(fd, "f")
    t.stat("f")
    t.content("f")


def s_big_truncate(t):
    fd = os.open("f", os.O_CREAT | os.O_RDWR, 0o644)
    with fd_closing(fd):
        os.write(fd, b"head")
        t.do("ftruncate to 4 GiB", os.ftruncate, fd, 4 << 30)
        t.fstat(fd, "f")
        t.val("read in the hole", os.pread, fd, 4, 3 << 30)
        t.val("pwrite one byte at 3 GiB", os.pwrite, fd, b"!", 3 << 30)
    t.stat("f")
    fd = os.open("f", os.O_RDONLY)
    with fd_closing(fd):
        t.val("read back", os.pread, fd, 2, (3 << 30) - 1)
        t.val("head", os.pread, fd, 4, 0)
    t.do("truncate back to 2", os.truncate, "f", 2)
    t.stat("f")
    t.content("f")


s_big_truncate.timeout = 60
# EFBIG must come at once; a call still busy after 15 s hangs (main hashes the hole).
s_efbig_truncate.timeout = s_efbig_ftruncate.timeout = s_efbig_write.timeout = 15
