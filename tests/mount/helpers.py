#!/usr/bin/env python3
"""System-call level checks the mount tests cannot express in shell.

Each subcommand exits 0 on success and prints what went wrong otherwise.
"""
import ctypes
import errno
import hashlib
import mmap
import os
import random
import socket
import sys
import time

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2


def die(msg):
    print("helpers.py: " + msg, file=sys.stderr)
    sys.exit(1)


def renameat2(src, dst, flag_name):
    """renameat2 SRC DST noreplace|exchange; prints the errno name or OK."""
    libc = ctypes.CDLL(None, use_errno=True)
    flags = {"noreplace": RENAME_NOREPLACE, "exchange": RENAME_EXCHANGE}[flag_name]
    r = libc.renameat2(AT_FDCWD, src.encode(), AT_FDCWD, dst.encode(), flags)
    print("OK" if r == 0 else errno.errorcode[ctypes.get_errno()])


def random_pwrites(path, model, steps, seed):
    """Random pwrites/truncates on PATH and a MODEL file in a normal fs; compare."""
    rng = random.Random(int(seed))
    fds = [os.open(p, os.O_RDWR | os.O_CREAT, 0o644) for p in (path, model)]
    try:
        for step in range(int(steps)):
            op = rng.random()
            if op < 0.8:
                off = rng.randrange(0, 6 << 20)
                data = rng.randbytes(rng.randrange(1, 200000))
                for fd in fds:
                    if os.pwrite(fd, data, off) != len(data):
                        die("short pwrite at step %d" % step)
            else:
                size = rng.randrange(0, 7 << 20)
                for fd in fds:
                    os.ftruncate(fd, size)
            if step % 25 == 0:
                off = rng.randrange(0, 7 << 20)
                a = os.pread(fds[0], 300000, off)
                b = os.pread(fds[1], 300000, off)
                if a != b:
                    die("read through the open descriptor differs at step %d offset %d" % (step, off))
    finally:
        for fd in fds:
            os.close(fd)
    with open(path, "rb") as f, open(model, "rb") as g:
        if f.read() != g.read():
            die("content after close differs from the model")


def mmap_write(path, size):
    """Writes a pattern through a shared writable mapping, msyncs, checks by read."""
    size = int(size)
    with open(path, "wb") as f:
        f.truncate(size)
    pattern = bytes(range(256)) * (size // 256)
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), size)
        m[:] = pattern
        m[100:105] = b"HELLO"
        m.flush()
        m.close()
    expect = bytearray(pattern)
    expect[100:105] = b"HELLO"
    with open(path, "rb") as f:
        if f.read() != bytes(expect):
            die("mmap-written content not read back")
    # and a mapping for reading sees the same bytes
    with open(path, "rb") as f:
        m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
        if m[100:105] != b"HELLO":
            die("read mapping does not see the write")
        m.close()


def append(path, writers, lines):
    """Several O_APPEND descriptors append lines; none is lost or torn."""
    fds = [os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) for _ in range(int(writers))]
    for i in range(int(lines)):
        for w, fd in enumerate(fds):
            os.write(fd, b"writer %d line %d\n" % (w, i))
    for fd in fds:
        os.close(fd)
    with open(path, "rb") as f:
        got = f.read().splitlines()
    if len(got) != int(writers) * int(lines):
        die("expected %d lines, got %d" % (int(writers) * int(lines), len(got)))


def unlink_open(path):
    """Data stays readable and writable through a descriptor after unlink."""
    with open(path, "wb") as f:
        f.write(b"before unlink\n")
    fd = os.open(path, os.O_RDWR)
    os.unlink(path)
    if os.path.exists(path):
        die("name still there after unlink")
    if os.pread(fd, 100, 0) != b"before unlink\n":
        die("cannot read the unlinked file")
    os.pwrite(fd, b"AFTER", 0)
    if os.pread(fd, 100, 0) != b"AFTERe unlink\n":
        die("cannot write the unlinked file")
    st = os.fstat(fd)
    if st.st_nlink != 0 or st.st_size != 14:
        die("fstat of the unlinked file: nlink %d size %d" % (st.st_nlink, st.st_size))
    os.close(fd)


def same_file_writers(path, writers, blocks):
    """Processes write interleaved blocks of one file through their own
    descriptors at the same time; every block must land."""
    writers, blocks = int(writers), int(blocks)
    bs = 65536
    with open(path, "wb") as f:
        f.truncate(writers * blocks * bs)
    pids = []
    for w in range(writers):
        pid = os.fork()
        if pid == 0:
            fd = os.open(path, os.O_WRONLY)
            for b in range(blocks):
                os.pwrite(fd, bytes([65 + w]) * bs, (b * writers + w) * bs)
            os.close(fd)
            os._exit(0)
        pids.append(pid)
    for pid in pids:
        _, status = os.waitpid(pid, 0)
        if status != 0:
            die("writer process failed")
    with open(path, "rb") as f:
        data = f.read()
    for i in range(writers * blocks):
        if data[i * bs:(i + 1) * bs] != bytes([65 + i % writers]) * bs:
            die("block %d is wrong" % i)


def hold_open(path, size):
    """Writes SIZE bytes to PATH, prints their sha256, then keeps the file
    open (uncommitted) until killed (stop tests)."""
    data = random.Random(5).randbytes(int(size))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, data)
    print(hashlib.sha256(data).hexdigest(), flush=True)
    while True:
        time.sleep(1)


def close_or_die(fd):
    """close() must succeed even if the file was unlinked or renamed over."""
    try:
        os.close(fd)
    except OSError as e:
        die("close failed: %s" % e)


def stress(root, seed, seconds):
    """Random namespace and data operations on a few shared names, for
    several of these at once: no crash, no hang, no unexpected error."""
    rng = random.Random(int(seed))
    names = ["f%d" % i for i in range(12)] + ["d/f%d" % i for i in range(6)]
    os.makedirs(os.path.join(root, "d"), exist_ok=True)
    end = time.time() + float(seconds)
    fds = []
    expected = (errno.ENOENT, errno.EEXIST, errno.EISDIR, errno.ENOTEMPTY)
    while time.time() < end:
        p = os.path.join(root, rng.choice(names))
        other = os.path.join(root, rng.choice(names))
        op = rng.randrange(11)
        try:
            if op == 0:
                fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, rng.randbytes(rng.randrange(0, 300000)))
                close_or_die(fd)
            elif op == 1:
                with open(p, "rb") as f:
                    f.read()
            elif op == 2:
                os.rename(p, other)
            elif op == 3:
                os.unlink(p)
            elif op == 4:
                fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
                fds.append(fd)
                os.pwrite(fd, rng.randbytes(rng.randrange(1, 70000)), rng.randrange(0, 6000000))
            elif op == 5 and fds:
                fd = fds.pop(rng.randrange(len(fds)))
                if rng.random() < 0.5:
                    os.fsync(fd)
                close_or_die(fd)
            elif op == 6:
                os.truncate(p, rng.randrange(0, 500000))
            elif op == 7:
                with open(p + ".tmp", "wb") as f:
                    f.write(rng.randbytes(5000))
                os.rename(p + ".tmp", p)
            elif op == 8:
                os.link(p, other)
            elif op == 9:
                os.listdir(root)
                os.stat(p)
            elif op == 10 and fds:
                os.pread(rng.choice(fds), 100000, rng.randrange(0, 6000000))
        except OSError as e:
            if e.errno not in expected:
                die("op %d on %s: %s" % (op, p, e))
    for fd in fds:
        os.close(fd)


def notify_listen(sock_path, timeout):
    """Listens on a datagram socket like systemd and prints each message."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(sock_path)
    s.settimeout(float(timeout))
    print("listening", flush=True)
    try:
        while True:
            msg = s.recv(4096).decode()
            print(msg, flush=True)
            if "STOPPING=1" in msg:
                return
    except socket.timeout:
        return


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def rename_race(directory, mode, rounds):
    """Each round: make a{i} without writing (mode 'create': open(O_CREAT) and
    close; 'trunc': open an existing a{i} with O_TRUNC and close), rename it
    over b{i}, append to b{i}, close; b{i} must then hold exactly the append."""
    for i in range(int(rounds)):
        a = os.path.join(directory, "a%d" % i)
        b = os.path.join(directory, "b%d" % i)
        write_file(b, b"old b %d\n" % i)
        if mode == "create":
            os.close(os.open(a, os.O_WRONLY | os.O_CREAT, 0o644))
        else:
            write_file(a, b"old a %d\n" % i)
            os.close(os.open(a, os.O_WRONLY | os.O_TRUNC))
        os.rename(a, b)
        fd = os.open(b, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"appended %d\n" % i)
        close_or_die(fd)
        got = read_file(b)
        if got != b"appended %d\n" % i:
            die("%s round %d: %s holds %r" % (mode, i, b, got))


def rename_over_reader(directory):
    """rename(a, b) over a b that is open for reading: b takes a's inode
    number, the open descriptor reads the old b whole, new opens read a."""
    a, b = os.path.join(directory, "a"), os.path.join(directory, "b")
    old, new = random.randbytes(1 << 20), random.randbytes(1 << 20)
    write_file(b, old)
    write_file(a, new)
    ino_a = os.stat(a).st_ino
    fd = os.open(b, os.O_RDONLY)
    got = os.read(fd, 65536)
    os.rename(a, b)
    while True:
        piece = os.read(fd, 1 << 20)
        if not piece:
            break
        got += piece
    if got != old:
        same = sum(1 for x, y in zip(got, old) if x == y)
        die("the descriptor of the replaced b read %d bytes, %d equal to the old b"
            % (len(got), same))
    if os.stat(b).st_ino != ino_a:
        die("after rename(a, b) b has inode %d, a had %d" % (os.stat(b).st_ino, ino_a))
    if os.fstat(fd).st_nlink != 0:
        die("the replaced b has nlink %d" % os.fstat(fd).st_nlink)
    os.close(fd)
    if read_file(b) != new:
        die("b does not read as the renamed a")


def truncate_then_list(path, rounds):
    """Each round: write PATH, then empty it without writing (open(O_TRUNC) or
    ftruncate(0), alternately) and close: at once PATH@ lists one version
    more and the newest is empty."""
    for i in range(int(rounds)):
        write_file(path, b"round %d\n" % i)
        before = len(os.listdir(path + "@"))
        if i % 2 == 0:
            close_or_die(os.open(path, os.O_WRONLY | os.O_TRUNC))
        else:
            fd = os.open(path, os.O_RDWR)
            os.ftruncate(fd, 0)
            close_or_die(fd)
        names = sorted(int(n) for n in os.listdir(path + "@"))
        if len(names) != before + 1:
            die("round %d: %s@ lists %d versions right after close, expected %d"
                % (i, path, len(names), before + 1))
        if os.stat("%s@%d" % (path, names[-1])).st_size != 0:
            die("round %d: the newest version is not empty" % i)


def truncate_then_kill(paths_prefix, count, pid):
    """Empties PREFIX0..PREFIX{count-1} by open(O_TRUNC) + close, then at once
    kills PID (the daemon) with SIGKILL."""
    for i in range(int(count)):
        close_or_die(os.open("%s%d" % (paths_prefix, i), os.O_WRONLY | os.O_TRUNC))
    os.kill(int(pid), 9)


COMMANDS = {
    "renameat2": renameat2,
    "random-pwrites": random_pwrites,
    "mmap-write": mmap_write,
    "append": append,
    "unlink-open": unlink_open,
    "same-file-writers": same_file_writers,
    "hold-open": hold_open,
    "notify-listen": notify_listen,
    "stress": stress,
    "rename-race": rename_race,
    "rename-over-reader": rename_over_reader,
    "truncate-then-list": truncate_then_list,
    "truncate-then-kill": truncate_then_kill,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        die("usage: helpers.py {%s} ARGS..." % ",".join(COMMANDS))
    COMMANDS[sys.argv[1]](*sys.argv[2:])
