#!/usr/bin/env python3
"""Runs a command on a fresh pseudo-terminal and types answers to its prompts.

    on_terminal.py [--answer TEXT]... -- COMMAND [ARG]...

Each time the command's terminal output ends in a prompt (a line ending in
": " that has not been answered yet), the next --answer is typed, followed by
Enter. The command's stdin, stdout and stderr are the terminal, so it sees a
real tty (isatty, /dev/tty, echo settings). Everything it printed on the
terminal is written to our stdout; we exit with its exit code. After the
answers run out, a further prompt gets end-of-input (Ctrl-D); the answer
"^C" types Ctrl-C instead. At the end, "[terminal echo on]" or "[terminal echo
off]" says whether the command left the terminal echoing. The whole run is
limited to 60 seconds.
"""
import os
import pty
import select
import sys
import termios
import time


def main():
    args = sys.argv[1:]
    answers = []
    while args and args[0] == "--answer":
        answers.append(args[1])
        args = args[2:]
    if not args or args[0] != "--":
        sys.exit("usage: on_terminal.py [--answer TEXT]... -- COMMAND [ARG]...")
    cmd = args[1:]
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(cmd[0], cmd)
    out = b""
    answered = 0  # prompts answered so far (by output offset)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            out += data
        if out.endswith(b": ") and len(out) > answered:
            answered = len(out)
            if answers and answers[0] == "^C":
                answers.pop(0)
                os.write(fd, b"\x03")
            elif answers:
                os.write(fd, answers.pop(0).encode() + b"\n")
            else:
                os.write(fd, b"\x04")
    else:
        os.kill(pid, 9)
        sys.stdout.buffer.write(out + b"\n[on_terminal.py: timed out]\n")
        sys.exit(124)
    _, status = os.waitpid(pid, 0)
    # The master side reads the terminal's settings as the command left them.
    echo = termios.tcgetattr(fd)[3] & termios.ECHO
    out += b"\n[terminal echo on]\n" if echo else b"\n[terminal echo off]\n"
    sys.stdout.buffer.write(out)
    sys.exit(os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
