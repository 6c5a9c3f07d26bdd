#!/usr/bin/env python3
# A plain worker for the cppcluster log tests: it writes numbered lines on stdout and stderr,
# each with one write(), as fast as it can, with no socket and no readiness of its own.
#   LINES=N     lines on each stream (default: until SIGTERM)
#   LINE_LEN=L  each line padded with 'x' to about L bytes (default 100)
#   PAUSE_MS=M  a pause after each pair of lines (default 0)
# A line: "chatty pid=P stream=out|err seq=N xxxx...". First, once on stdout, a line with bytes
# that JSON must escape or replace: a quote, a backslash, a tab, ESC, and an invalid UTF-8 byte.
# On SIGTERM, after the pair of lines in hand: "done pid=P last=N" (N the last seq) and exit 0.
import os
import sys
import time

import stop_flag  # SIGTERM as a flag (this directory is on sys.path)


def main():
    stop_flag.install()
    pid = os.getpid()
    lines = int(os.environ.get("LINES", "-1"))
    length = int(os.environ.get("LINE_LEN", "100"))
    pause = int(os.environ.get("PAUSE_MS", "0")) / 1000.0
    os.write(1, b'odd pid=%d quote=" backslash=\\ tab=\t esc=\x1b bad=\xff end\n' % pid)
    seq = -1
    # Bounded: at most 10 million lines, or 10 minutes.
    end = time.monotonic() + 600
    while not stop_flag.stopping() and seq + 1 != lines and seq < 10_000_000 and time.monotonic() < end:
        seq += 1
        for fd, name in ((1, "out"), (2, "err")):
            head = f"chatty pid={pid} stream={name} seq={seq} "
            os.write(fd, (head + "x" * max(0, length - len(head)) + "\n").encode())
        if pause:
            time.sleep(pause)
    os.write(1, f"done pid={pid} last={seq}\n".encode())
    if lines >= 0:
        # Ran out of lines: wait for SIGTERM, as a server would.
        while not stop_flag.stopping() and time.monotonic() < end:
            time.sleep(0.05)
    return 0


if __name__ == "__main__":
    sys.exit(main())
