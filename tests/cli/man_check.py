#!/usr/bin/env python3
"""Checks that a man page documents every command and option a binary's
--help lists (and no command --help does not).

  man_check.py KATAMARI docs/man/katamari.1            (commands: SYNOPSIS and COMMANDS)
  man_check.py --flat KATAMARIFS docs/man/katamarifs.8 (a binary without subcommands)

For each command of `katamari --help`, recursively (`key list`, `policy set`):
its SYNOPSIS entry (`.B katamari key list`) and its COMMANDS entry (a `.TP`
heading naming it) exist, and each of its options (the long name, else the
short one) is in that SYNOPSIS entry and in that COMMANDS entry. The global
options must be in the first SYNOPSIS entry or GLOBAL OPTIONS. With --flat,
each option of --help must appear somewhere in the page. Prints each gap;
exit 1 if there is one.
"""
import re
import subprocess
import sys


def run_help(binary, words):
    out = subprocess.run([binary, *words, "--help"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"'{binary} {' '.join(words)} --help' exited {out.returncode}: {out.stderr}")
    return out.stdout


def parse_help(text):
    """(options, subcommands) of one CLI11 --help text."""
    options, subs, section = [], [], None
    for line in text.splitlines():
        if re.match(r"^\S.*:$", line):
            section = line[:-1]
            continue
        if section == "Options" and re.match(r"^  -", line):
            names = re.findall(r"(?:^|,)(--?[A-Za-z0-9][A-Za-z0-9-]*)", line.split()[0])
            longs = [n for n in names if n.startswith("--")]
            name = (longs or names)[0]
            if name != "--help":
                options.append(name)
        elif section == "Subcommands" and re.match(r"^  \S", line):
            subs.append(line.split()[0])
    return options, subs


def commands(binary, words=()):
    """{command words: options} for every command under `words`."""
    options, subs = parse_help(run_help(binary, list(words)))
    out = {tuple(words): options}
    for s in subs:
        out.update(commands(binary, (*words, s)))
    return out


def plain(troff):
    """Roughly the text of troff source: escapes and font macros gone."""
    t = troff.replace(r"\-", "-").replace(r"\(em", "-")
    t = re.sub(r"\\f[BIRP]", "", t)
    t = re.sub(r"^\.(B|I|BR|RB|BI|IB|IR|RI)\s", "", t, flags=re.M)
    return t.replace('"', "")


def sections(page):
    out, name = {}, None
    for line in page.splitlines():
        if line.startswith(".SH "):
            name = line[4:].strip().strip('"')
            out[name] = []
        elif name:
            out[name].append(line)
    return out


def has_option(text, opt):
    return re.search(r"(?<![A-Za-z0-9-])" + re.escape(opt) + r"(?![A-Za-z0-9-])", text) is not None


def check_commands(binary, page):
    gaps = []
    secs = sections(page)
    cmds = commands(binary)
    top = {w[0] for w in cmds if w}
    # SYNOPSIS: entries start at `.B katamari ...`; the first is the global one.
    synopsis = {}
    entry = None
    for line in secs.get("SYNOPSIS", []):
        m = re.match(r"^\.B katamari(.*)$", line)
        if m:
            words = tuple(w for w in plain(m.group(1)).split() if not w.startswith("-"))
            entry = synopsis.setdefault(words, [])
            entry.append(plain(m.group(1)))
        elif entry is not None:
            entry.append(plain(line))
    # COMMANDS: a `.TP` then a heading whose first words name a command; a
    # `.PP` paragraph between entries (shared: "ls, versions ... take --json")
    # documents the options it names for the commands it names.
    described, current, lines = {}, None, secs.get("COMMANDS", [])
    shared, paragraph = [], None
    for i, line in enumerate(lines):
        if i > 0 and lines[i - 1] == ".TP" and not line.startswith(".TP"):
            words = plain(line).split()
            if words and words[0] in top:
                key = tuple(w for w in words[:2] if not w.startswith("-") and
                            (w == words[0] or (words[0], w) in cmds))
                current = described.setdefault(key, [])
                paragraph = None
        if line == ".PP":
            current, paragraph = None, []
            shared.append(paragraph)
        if current is not None:
            current.append(plain(line))
        elif paragraph is not None:
            paragraph.append(plain(line))
    for para in shared:
        text = " ".join(" ".join(para).split())
        for words in cmds:
            if words and has_option(text, " ".join(words)):
                described.setdefault(words, []).append(text)
    glob = "\n".join(synopsis.get((), []) + [plain(x) for x in secs.get("GLOBAL OPTIONS", [])])
    for words, options in sorted(cmds.items()):
        name = " ".join(words) or "(global)"
        if not words:
            gaps += [f"global option {o} not in SYNOPSIS or GLOBAL OPTIONS"
                     for o in options if not has_option(glob, o)]
            continue
        parent = any(w[:len(words)] == words and len(w) > len(words) for w in cmds)
        if parent:
            continue  # `key`, `policy`: its subcommands carry the entries
        syn = "\n".join(synopsis.get(words, []))
        desc = "\n".join(described.get(words, []))
        if not syn:
            gaps.append(f"'{name}' has no SYNOPSIS entry '.B katamari {name}'")
        if not desc:
            gaps.append(f"'{name}' has no COMMANDS entry (.TP, then .B {name})")
        for o in options:
            if syn and not has_option(syn, o):
                gaps.append(f"'{name}': option {o} not in its SYNOPSIS entry")
            if desc and not has_option(desc, o):
                gaps.append(f"'{name}': option {o} not in its COMMANDS entry")
    for words in synopsis:
        if words and words not in cmds:
            gaps.append(f"SYNOPSIS names '{' '.join(words)}', which --help does not list")
    for words in described:
        if words not in cmds:
            gaps.append(f"COMMANDS describes '{' '.join(words)}', which --help does not list")
    return gaps


def check_flat(binary, page):
    """Options (`  -f`, `  -V, --version`) and the names in the `-o OPTS` list."""
    options, mount_opts, in_o = [], [], False
    for line in run_help(binary, []).splitlines():
        m = re.match(r"^  (-[-A-Za-z0-9]+)(?:, (--[-A-Za-z0-9]+))?", line)
        if m:
            opt = m.group(2) or m.group(1)
            if opt != "--help":
                options.append(opt)
            in_o = m.group(1) == "-o"
        elif in_o and re.match(r"^\s{6,}\S", line):
            for part in re.split(r"[,\s]+", line.strip()):
                name = part.split("=")[0]
                if re.fullmatch(r"[a-z_]+", name):
                    mount_opts.append(name)
        else:
            in_o = False
    text = plain(page)
    return ([f"option {o} not in the man page" for o in options if not has_option(text, o)] +
            [f"mount option {o} not in the man page" for o in mount_opts
             if not re.search(r"(?<![a-z_])" + o + r"(?![a-z_])", text)])


def main():
    args = sys.argv[1:]
    flat = args[:1] == ["--flat"]
    if flat:
        args = args[1:]
    binary, man = args
    page = open(man, encoding="utf-8").read()
    gaps = check_flat(binary, page) if flat else check_commands(binary, page)
    for g in gaps:
        print(f"{man}: {g}")
    sys.exit(1 if gaps else 0)


if __name__ == "__main__":
    main()
