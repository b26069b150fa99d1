#!/usr/bin/env python3
"""The CLI beside a mount (t_cli_concurrent.sh): a soak and its check.

  cli_soak.py run MNT BUCKET KATAMARI WORK SECS MODEL
      Mount writers (cp of files of a few MB, small files, appends, fsync,
      dd conv=fsync, mv over files, deleting old versions) in MNT/m0, MNT/m1
      and one CLI driver (katamari put, put -, rm, rm --version, rm --purge,
      restore, gc twice, fsck, ls, get) on keys k/c* run at the same time for
      SECS seconds, beside the daemon's periodic catalog sync. Every file
      closed through the mount and every key the CLI put is recorded with
      the sha256 of what it must hold (MODEL, JSON); every step is checked as
      it goes (a closed file reads back, a CLI change shows in the mount
      within a deadline, gc removes no orphan files, fsck exits 0).
  cli_soak.py verify MNT BUCKET KATAMARI MODEL
      After a remount: every recorded file and key holds its content (also
      through `katamari get`), every removed one is absent.
Prints one summary line of how many operations of each kind ran.
"""
import collections
import hashlib
import json
import os
import random
import subprocess
import sys
import threading
import time

VISIBLE_DEADLINE = 20.0  # s for a CLI change to show in the mount (attr timeout 1 s)
POOL_SIZES = [3 << 20, 2 << 20, 5 << 20, 1 << 20, 300000]


class Failure(Exception):
    pass


def sha_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


class Soak:
    def __init__(self, mnt, bucket, katamari, work, secs):
        self.mnt, self.bucket, self.katamari = mnt, bucket, katamari
        self.work, self.end = work, time.time() + float(secs)
        self.counts = collections.Counter()
        self.lock = threading.Lock()
        self.errors = []
        self.mount_files = {}  # relative path -> sha256 (closed through the mount)
        self.mount_gone = set()
        self.cli_keys = {}  # key -> sha256 of its current version
        self.cli_gone = set()
        self.pool = self.make_pool()

    def make_pool(self):
        rng = random.Random(1)
        pool = []
        os.makedirs(os.path.join(self.work, "pool"), exist_ok=True)
        for i, size in enumerate(POOL_SIZES):
            path = os.path.join(self.work, "pool", "p%d" % i)
            data = rng.randbytes(size)
            with open(path, "wb") as f:
                f.write(data)
            pool.append((path, hashlib.sha256(data)))
        return pool

    def count(self, what):
        with self.lock:
            self.counts[what] += 1

    def running(self):
        return time.time() < self.end and not self.errors

    def guard(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:  # any failure stops the soak and is reported
            with self.lock:
                self.errors.append("%s: %s" % (fn.__name__, e))

    # ---- mount writers

    def mount_writer(self, wid):
        rng = random.Random(100 + wid)
        d = "m%d" % wid
        os.makedirs(os.path.join(self.mnt, d), exist_ok=True)
        names = ["%s/f%d" % (d, i) for i in range(6)]
        model = {}  # name -> hashlib object of its content
        while self.running():
            name = rng.choice(names)
            path = os.path.join(self.mnt, name)
            op = rng.randrange(9)
            if op == 0:  # cp of a file of a few MB
                src, h = rng.choice(self.pool)
                subprocess.run(["cp", src, path], check=True)
                model[name] = h.copy()
                self.count("mount cp")
            elif op == 1:  # a small file
                data = rng.randbytes(rng.randrange(0, 20000))
                with open(path, "wb") as f:
                    f.write(data)
                model[name] = hashlib.sha256(data)
                self.count("mount small write")
            elif op == 2 and name in model:  # append
                data = rng.randbytes(rng.randrange(1, 70000))
                with open(path, "ab") as f:
                    f.write(data)
                model[name].update(data)
                self.count("mount append")
            elif op == 3:  # write + fsync before close
                data = rng.randbytes(rng.randrange(1, 200000))
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.write(fd, data)
                os.fsync(fd)
                os.close(fd)
                model[name] = hashlib.sha256(data)
                self.count("mount fsync")
            elif op == 4:  # dd conv=fsync
                src, h = rng.choice(self.pool)
                subprocess.run(["dd", "if=" + src, "of=" + path, "bs=1M", "conv=fsync",
                                "status=none"], check=True)
                model[name] = h.copy()
                self.count("mount dd conv=fsync")
            elif op == 5:  # mv over a file (write a temporary, rename it over)
                tmp = path + ".tmp"
                src, h = rng.choice(self.pool)
                subprocess.run(["cp", src, tmp], check=True)
                subprocess.run(["mv", tmp, path], check=True)
                model[name] = h.copy()
                self.count("mount mv over")
            elif op == 6 and name in model:  # delete the oldest of >= 3 versions
                vers = sorted(os.listdir(path + "@"), key=int)
                if len(vers) >= 3:
                    os.unlink(path + "@" + vers[0])
                    self.count("mount rm NAME@N")
            elif op == 7 and name in model and rng.random() < 0.3:
                os.unlink(path)
                del model[name]
                self.count("mount rm")
            elif op == 8 and name in model:  # read back what was closed
                got = sha_file(path)
                if got != model[name].hexdigest():
                    raise Failure("%s reads %s through the mount, expected %s" %
                                  (name, got, model[name].hexdigest()))
                self.count("mount read check")
        with self.lock:
            for name in names:
                if name in model:
                    self.mount_files[name] = model[name].hexdigest()
                else:
                    self.mount_gone.add(name)

    # ---- the CLI

    def cli(self, *args, stdin=None, ok=True):
        r = subprocess.run([self.katamari, "-b", self.bucket] + list(args), input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if ok and r.returncode != 0:
            raise Failure("katamari %s: exit %d: %s%s" % (
                " ".join(args), r.returncode, r.stdout.decode(errors="replace")[-2000:],
                r.stderr.decode(errors="replace")[-2000:]))
        return r

    def wait_visible(self, key, sha):
        """The mount shows `key` with content `sha` (None: absent) in time."""
        path = os.path.join(self.mnt, key)
        deadline = time.time() + VISIBLE_DEADLINE
        while True:
            try:
                got = sha_file(path)
            except FileNotFoundError:
                got = None
            if got == sha:
                return
            if time.time() > deadline:
                raise Failure("%s shows %s in the mount %.0f s after the CLI changed it, "
                              "expected %s" % (key, got, VISIBLE_DEADLINE, sha))
            time.sleep(0.1)

    def cli_driver(self):
        rng = random.Random(7)
        keys = ["k/c%d" % i for i in range(8)]
        history = {}  # key -> set of sha256 it ever held
        while self.running():
            key = rng.choice(keys)
            op = rng.randrange(10)
            if op <= 1:  # put FILE
                src, h = rng.choice(self.pool)
                self.cli("put", key, src)
                self.set_key(key, h.hexdigest(), history)
                self.count("cli put FILE")
            elif op == 2:  # put - (stdin)
                data = rng.randbytes(rng.randrange(0, 100000))
                self.cli("put", key, "-", stdin=data)
                self.set_key(key, sha_bytes(data), history)
                self.count("cli put -")
            elif op == 3 and key in self.cli_keys:
                self.cli("rm", key)
                self.set_key(key, None, history)
                self.count("cli rm")
            elif op == 4 and key in history:
                vers = json.loads(self.cli("versions", key, "--json").stdout)
                v = rng.choice(vers)
                if v["sha256"] not in history[key]:
                    raise Failure("%s@%d has a sha256 it never held" % (key, v["version"]))
                self.cli("restore", key, "--version", str(v["version"]))
                self.set_key(key, v["sha256"], history)
                self.count("cli restore")
            elif op == 5 and key in history:
                vers = json.loads(self.cli("versions", key, "--json").stdout)
                old = [v for v in vers[:-1]]
                if old:
                    self.cli("rm", key, "--version", str(rng.choice(old)["version"]))
                    self.count("cli rm --version")
                elif rng.random() < 0.3:
                    self.cli("rm", key, "--purge", "--yes")
                    self.cli_keys.pop(key, None)
                    history.pop(key)
                    self.cli_gone.add(key)
                    self.wait_visible(key, None)
                    self.count("cli rm --purge")
            elif op == 6:  # gc twice in a row, as the weekly timer does
                for _ in range(2):
                    rep = json.loads(self.cli("gc", "--json").stdout)
                    if rep["orphans_removed"] != 0:
                        raise Failure("gc removed %d orphan chunk files while mounted" %
                                      rep["orphans_removed"])
                    self.count("cli gc")
            elif op == 7:
                self.cli("fsck")
                self.count("cli fsck")
            elif op == 8 and history:
                listed = {f["key"] for f in json.loads(self.cli("ls", "k/", "--json").stdout)}
                self.cli("ls")
                missing = {k for k in self.cli_keys} - listed
                if missing:
                    raise Failure("katamari ls misses %s" % sorted(missing))
                self.count("cli ls")
            elif op == 9 and key in self.cli_keys:
                got = sha_bytes(self.cli("get", key).stdout)
                if got != self.cli_keys[key]:
                    raise Failure("katamari get %s: %s, expected %s" %
                                  (key, got, self.cli_keys[key]))
                self.count("cli get")

    def set_key(self, key, sha, history):
        if sha is None:
            self.cli_keys.pop(key, None)
            self.cli_gone.add(key)
        else:
            self.cli_keys[key] = sha
            history.setdefault(key, set()).add(sha)
            self.cli_gone.discard(key)
        self.wait_visible(key, sha)
        self.count("cli change seen in the mount")

    def run(self, model_path):
        threads = [threading.Thread(target=self.guard, args=(self.mount_writer, i))
                   for i in range(2)]
        threads.append(threading.Thread(target=self.guard, args=(self.cli_driver,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with open(model_path, "w") as f:
            json.dump({"mount": self.mount_files, "mount_gone": sorted(self.mount_gone),
                       "cli": self.cli_keys, "cli_gone": sorted(self.cli_gone)}, f)
        print("soak: " + ", ".join("%s %d" % kv for kv in sorted(self.counts.items())))
        if self.errors:
            for e in self.errors:
                print("soak FAILED: " + e, file=sys.stderr)
            sys.exit(1)


def verify(mnt, bucket, katamari, model_path):
    with open(model_path) as f:
        model = json.load(f)
    bad = []
    for name, sha in sorted(list(model["mount"].items()) + list(model["cli"].items())):
        try:
            got = sha_file(os.path.join(mnt, name))
        except OSError as e:
            got = str(e)
        if got != sha:
            bad.append("%s reads %s after remount, expected %s" % (name, got, sha))
    for key, sha in sorted(model["cli"].items()):
        r = subprocess.run([katamari, "-b", bucket, "get", key], stdout=subprocess.PIPE)
        if r.returncode != 0 or sha_bytes(r.stdout) != sha:
            bad.append("katamari get %s: exit %d, wrong content" % (key, r.returncode))
    for name in model["mount_gone"] + model["cli_gone"]:
        if os.path.exists(os.path.join(mnt, name)):
            bad.append("%s was removed but exists after remount" % name)
    print("verify: %d files, %d keys, %d removed names checked" %
          (len(model["mount"]), len(model["cli"]),
           len(model["mount_gone"]) + len(model["cli_gone"])))
    if bad:
        for b in bad:
            print("verify FAILED: " + b, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    if len(sys.argv) == 8 and sys.argv[1] == "run":
        Soak(*sys.argv[2:7]).run(sys.argv[7])
    elif len(sys.argv) == 6 and sys.argv[1] == "verify":
        verify(*sys.argv[2:6])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
