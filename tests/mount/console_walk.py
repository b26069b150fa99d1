#!/usr/bin/env python3
# Runs a console block of a document and checks each command's output:
#
#   console_walk.py DOC MARKER WORKDIR
#
# The block is the ```console fence right after the line MARKER (an HTML
# comment such as "<!-- walkthrough: time travel -->"). Lines "$ CMD" are
# commands, run in order by one bash in WORKDIR; the lines after each are its
# expected stdout. Owners ("ann ann") and ls dates are matched loosely,
# whitespace is collapsed; a line "prog: ...: message" means the command must
# fail with that message on stderr. Exit 1 (and one line per problem) if any
# step differs.
import grp, os, pwd, re, subprocess, sys

doc, marker, work = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(doc, encoding="utf-8").read().splitlines()
start = lines.index(marker)
assert lines[start + 1].startswith("```"), "the marker must precede a code block"
steps = []  # (command, expected lines)
for line in lines[start + 2:]:
    if line.startswith("```"):
        break
    if line.startswith("$ "):
        steps.append((line[2:], []))
    else:
        steps[-1][1].append(line)
assert steps, "no commands after " + marker

out = os.path.join(work, "walk-" + re.sub(r"[^a-z0-9]+", "-", marker.lower()).strip("-"))
os.mkdir(out)
script = []
for i, (cmd, _) in enumerate(steps):
    script.append('{ %s\n} >%s/%d.out 2>%s/%d.err; echo $? >%s/%d.rc' % (cmd, out, i, out, i, out, i))
with open(os.path.join(out, "script.sh"), "w") as f:
    f.write("\n".join(script) + "\n")
subprocess.run(["bash", os.path.join(out, "script.sh")], cwd=work, check=False)

me = "%s %s" % (pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)
date = re.compile(r"[A-Z][a-z]{2} +[0-9]{1,2} +([0-9]{2}:[0-9]{2}|[0-9]{4})")
error = re.compile(r"^[A-Za-z0-9_.-]+: ")

def norm(text):
    text = date.sub("DATE", text.replace("ann ann", me))
    return " ".join(text.split())

bad = 0
for i, (cmd, expected) in enumerate(steps):
    got = open("%s/%d.out" % (out, i)).read()
    err = open("%s/%d.err" % (out, i)).read()
    rc = int(open("%s/%d.rc" % (out, i)).read())
    errors = [l for l in expected if error.match(l)]
    want = "\n".join(l for l in expected if not error.match(l))
    problems = []
    if errors:
        if rc == 0:
            problems.append("succeeded, the document shows it failing")
        for e in errors:
            if e.rsplit(": ", 1)[1] not in err:
                problems.append("stderr %r lacks %r" % (err, e.rsplit(": ", 1)[1]))
    elif rc != 0 and not (rc == 1 and cmd.split()[0] in ("diff", "cmp")):  # "they differ"
        problems.append("exit %d, stderr %r" % (rc, err))
    if norm(got) != norm(want):
        problems.append("output\n%s\ndiffers from the document's\n%s" % (got.rstrip(), want))
    for p in problems:
        print("%s step %d `%s`: %s" % (marker, i + 1, cmd, p))
        bad += 1
sys.exit(1 if bad else 0)
