#!/usr/bin/python3
"""Runs every conformance scenario on a reference directory and on the mount; compares.

    run.py REFERENCE_DIR MOUNT_DIR [-k SUBSTRING]... [--list]

REFERENCE_DIR is on the kernel's own file system (ext4), MOUNT_DIR inside the katamarifs
mount; both must exist, be empty and belong to the user running this. Each scenario gets a
fresh subdirectory on each side. Exit 0 when every transcript matches, 1 otherwise (each
mismatch printed as a diff naming the scenario).
"""
import argparse
import difflib
import importlib
import inspect
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

FAMILIES = ["files", "dirs", "rename", "links", "attrs", "xattrs", "perms", "special",
            "locks", "mmaps", "acls", "sparse"]


def scenarios():
    for family in FAMILIES:
        mod = importlib.import_module(family)
        fns = [f for name, f in inspect.getmembers(mod, inspect.isfunction)
               if name.startswith("s_") and f.__module__ == mod.__name__]
        for f in sorted(fns, key=lambda f: f.__code__.co_firstlineno):
            yield "%s.%s" % (family, f.__name__[2:]), f, getattr(f, "timeout", 30)


def run_on(root, sid, fn, timeout):
    d = os.path.join(root, sid)
    os.mkdir(d, 0o755)
    os.chmod(d, 0o755)

    def body(t):
        os.chdir(d)
        fn(t)
    return harness.in_child(body, timeout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reference")
    ap.add_argument("mount")
    ap.add_argument("-k", action="append", default=[], help="run scenarios whose id contains this")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-v", action="store_true", help="print every transcript")
    a = ap.parse_args()
    os.umask(0o022)
    who = "uid %d" % os.geteuid()
    failed, passed, start = [], 0, time.monotonic()
    for sid, fn, timeout in scenarios():
        if a.k and not any(k in sid for k in a.k):
            continue
        if a.list:
            print(sid)
            continue
        t0 = time.monotonic()
        ref = run_on(a.reference, sid, fn, timeout)
        mnt = run_on(a.mount, sid, fn, timeout)
        secs = time.monotonic() - t0
        if a.v:
            print("---- %s (%s) ----\n%s" % (sid, who, "\n".join(mnt)))
        if ref == mnt:
            passed += 1
            continue
        failed.append(sid)
        print("FAIL %s (%s, %.1f s): reference (ext4) vs katamarifs" % (sid, who, secs))
        for line in difflib.unified_diff(ref, mnt, "reference", "katamarifs", lineterm="", n=2):
            print("    " + line)
        sys.stdout.flush()
    if a.list:
        return 0
    print("conformance (%s): %d passed, %d failed in %.0f s" %
          (who, passed, len(failed), time.monotonic() - start))
    if failed:
        print("failed: " + " ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
