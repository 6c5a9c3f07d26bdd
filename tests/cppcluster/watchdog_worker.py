#!/usr/bin/env python3
# A plain worker for the cppcluster --watchdog tests: no socket, only sd_notify on NOTIFY_SOCKET.
# It prints what the supervisor gave it ("watchdog usec=U wpid=W pid=P"), sends READY=1, then
# behaves as the file named by MODE_FILE says for its CPPCLUSTER_WORKER_ID: the file's lines are
# "ID MODE", and "* MODE" for the other ids:
#   ping       WATCHDOG=1 every 0.2 s; "pings=10 pid=P" after the tenth
#   hang:N     N pings, then "hanging pid=P": no more pings, SIGTERM ignored (a hung program)
#   trigger    "triggered pid=P" and WATCHDOG=trigger, then pings as ping does
# SIGTERM ends it ("stopped pid=P", exit 0) unless it hangs.
import os
import signal
import sys
import time

import stop_flag  # SIGTERM as a flag (this directory is on sys.path)
from listen_fds_server import notify  # the same sd_notify sender (this directory is on sys.path)


def main():
    stop_flag.install()
    pid = os.getpid()
    usec = os.environ.get("WATCHDOG_USEC", "")
    wpid = os.environ.get("WATCHDOG_PID", "")
    print(f"watchdog usec={usec} wpid={wpid} pid={pid}", flush=True)
    worker = os.environ.get("CPPCLUSTER_WORKER_ID", "")
    mode = "ping"
    with open(os.environ["MODE_FILE"]) as f:
        modes = dict(line.split(None, 1) for line in f.read().splitlines() if line.strip())
    mode = modes.get(worker, modes.get("*", mode)).strip()
    notify("READY=1")
    pings = 0
    hang_after = int(mode[5:]) if mode.startswith("hang:") else -1
    if mode == "trigger":
        print(f"triggered pid={pid}", flush=True)
        notify("WATCHDOG=trigger")
    # Bounded: a worker nobody stops ends by itself after 10 minutes.
    for _ in range(3000):
        if stop_flag.stopping():
            break
        if pings == hang_after:
            print(f"hanging pid={pid}", flush=True)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            time.sleep(600)
            return 1
        notify("WATCHDOG=1")
        pings += 1
        if pings == 10:
            print(f"pings=10 pid={pid}", flush=True)
        time.sleep(0.2)
    print(f"stopped pid={pid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
