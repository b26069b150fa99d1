#!/usr/bin/env python3
"""Plays systemd's side of the sd_notify protocol for the service test.

    notify_listen.py SOCKET MOUNTPOINT EVENTS_FILE TIMEOUT_SECONDS

Binds a unix datagram socket at SOCKET (what $NOTIFY_SOCKET names) and appends one
line per notification to EVENTS_FILE:

    READY pid=<sender pid> mounted=<0|1> probe=<0|1>
    STOPPING pid=<sender pid>
    OTHER pid=<sender pid> <the line>

At the moment READY=1 arrives it checks, before anything else, that MOUNTPOINT is a FUSE
mount in /proc/self/mountinfo (mounted=1) and that a file can be written and read back
through it (probe=1: MOUNTPOINT/ready-probe.txt holds "ready\\n"). It exits after
STOPPING=1, or with status 1 after TIMEOUT_SECONDS without it.
"""
import os
import socket
import struct
import sys
import time

PROBE_NAME = "ready-probe.txt"
PROBE_TEXT = "ready\n"


def unescape_mountinfo(field):
    # mountinfo escapes blanks, tabs, newlines and backslashes as \ooo.
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def is_fuse_mount(mountpoint):
    target = os.path.realpath(mountpoint)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields = left.split()
            fstype = right.split()[0] if right.split() else ""
            if len(fields) > 4 and unescape_mountinfo(fields[4]) == target:
                if fstype == "fuse" or fstype.startswith("fuse."):
                    return True
    return False


def probe(mountpoint):
    path = os.path.join(mountpoint, PROBE_NAME)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(PROBE_TEXT)
        with open(path, encoding="utf-8") as f:
            return f.read() == PROBE_TEXT
    except OSError as e:
        print(f"notify_listen: probe {path}: {e}", file=sys.stderr)
        return False


def sender_pid(ancdata):
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid, _uid, _gid = struct.unpack("3i", data[:12])
            return pid
    return -1


def main():
    sock_path, mountpoint, events_path, timeout = sys.argv[1:5]
    deadline = time.monotonic() + float(timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    # Credentials tell which process spoke: Type=notify with NotifyAccess=main only
    # listens to the unit's main pid.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(sock_path)
    with open(events_path, "a", buffering=1, encoding="utf-8") as events:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                print("notify_listen: no STOPPING=1 before the timeout", file=sys.stderr)
                return 1
            sock.settimeout(left)
            try:
                msg, anc, _flags, _addr = sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = sender_pid(anc)
            stopping = False
            for line in msg.decode("utf-8", "replace").splitlines():
                if line == "READY=1":
                    mounted = int(is_fuse_mount(mountpoint))
                    # Never write into the bare directory under a missing mount.
                    ok = int(mounted and probe(mountpoint))
                    events.write(f"READY pid={pid} mounted={mounted} probe={ok}\n")
                elif line == "STOPPING=1":
                    events.write(f"STOPPING pid={pid}\n")
                    stopping = True
                else:
                    events.write(f"OTHER pid={pid} {line}\n")
            if stopping:
                return 0


if __name__ == "__main__":
    sys.exit(main())
