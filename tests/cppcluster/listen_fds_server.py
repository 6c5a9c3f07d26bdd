#!/usr/bin/env python3
# A plain HTTP/1.0 server for the cppcluster tests: it takes its listening socket from systemd's
# socket-activation variables (LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, fd 3), answers each
# request with what it was given, and stops on SIGTERM after the request in hand.
#   GET /            -> "pid=P listen_pid=L fds=N names=A:B worker=ID\n"
#   GET /slow?ms=MS  -> the same after MS milliseconds (prints "slow start pid=P" first)
# Readiness (sd_notify on NOTIFY_SOCKET) is read at start from the file named by the
# READY_MODE_FILE variable: "now" (default), "late:MS" (STATUS=warming up, READY=1 MS later) or
# "never". CHATTY=N prints N long lines on stdout and stderr at start.
import os
import signal
import socket
import sys
import time

stopping = False


def on_term(signum, frame):
    global stopping
    stopping = True


def notify(state):
    where = os.environ.get("NOTIFY_SOCKET")
    if not where:
        return
    if where.startswith("@"):
        where = "\0" + where[1:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.sendto(state.encode(), where)
    finally:
        s.close()


def main():
    signal.signal(signal.SIGTERM, on_term)
    pid = os.getpid()
    listen_pid = os.environ.get("LISTEN_PID", "")
    fds = int(os.environ.get("LISTEN_FDS", "0"))
    names = os.environ.get("LISTEN_FDNAMES", "")
    worker = os.environ.get("CPPCLUSTER_WORKER_ID", "")
    if fds < 1 or listen_pid != str(pid):
        print(f"bad activation: LISTEN_FDS={fds} LISTEN_PID={listen_pid} pid={pid}", file=sys.stderr)
        return 3
    sock = socket.socket(fileno=3)
    sock.settimeout(0.2)  # to see SIGTERM between connections
    print(f"serving pid={pid} listen_pid={listen_pid} worker={worker}", flush=True)

    chatty = int(os.environ.get("CHATTY", "0"))
    for i in range(chatty):
        line = f"chatty-{pid}-{i}-" + ("x" * 2000)
        print(line, flush=True)
        print(line, file=sys.stderr, flush=True)

    mode = "now"
    mode_file = os.environ.get("READY_MODE_FILE")
    if mode_file and os.path.exists(mode_file):
        with open(mode_file) as f:
            mode = f.read().strip()
    ready_at = None
    if mode == "now":
        notify("READY=1")
    elif mode.startswith("late:"):
        notify("STATUS=warming up")
        ready_at = time.monotonic() + int(mode[5:]) / 1000.0

    body_head = f"pid={pid} listen_pid={listen_pid} fds={fds} names={names} worker={worker}"
    while not stopping:
        if ready_at is not None and time.monotonic() >= ready_at:
            notify("READY=1\nSTATUS=serving")
            ready_at = None
        try:
            conn, _ = sock.accept()
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        with conn:
            conn.settimeout(10)
            data = b""
            try:
                while b"\r\n\r\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            except OSError:
                continue
            line = data.split(b"\r\n", 1)[0].decode(errors="replace")
            parts = line.split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            if path.startswith("/slow"):
                ms = int(path.split("ms=", 1)[1]) if "ms=" in path else 1000
                print(f"slow start pid={pid}", flush=True)
                time.sleep(ms / 1000.0)
            body = (body_head + "\n").encode()
            head = f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            try:
                conn.sendall(head + body)
            except OSError:
                pass
    notify("STOPPING=1")
    print(f"stopped pid={pid}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
