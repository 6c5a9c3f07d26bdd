// Node.js twin of bench/udp_fair_bench.cpp: WORKERS workers bind one udp4 loopback port (Node
// shares one socket under rr and none alike); the primary runs FLOWS flows, CONCURRENCY at a time,
// each a new socket sending one datagram that the worker answers with its id (unanswered ones are
// sent again every 200 ms). Usage: node udp_fair_bench.js [workers=3] [flows=3000]
// [concurrency=10]. Prints one JSON line with max/min flows per worker.
'use strict';
const cluster = require('cluster');
const dgram = require('dgram');

if (cluster.isWorker) {
  const sock = dgram.createSocket('udp4');
  const id = String(cluster.worker.id);
  sock.on('message', (msg, r) => sock.send(id, r.port, r.address));
  sock.bind(0, '127.0.0.1');
} else {
  const workers = Number(process.argv[2] || 3);
  const flows = Number(process.argv[3] || 3000);
  const concurrency = Number(process.argv[4] || 10);
  cluster.setupPrimary({ args: [] });
  let port = 0, listening = 0, started = 0, answered = 0, rounds = 0, resend = null;
  const waiting = new Map();
  const byWorker = new Map();
  const startOne = () => {
    const n = started++;
    const c = dgram.createSocket('udp4');
    waiting.set(n, c);
    c.on('message', (data) => {
      if (!waiting.has(n)) return;
      const id = String(data);
      byWorker.set(id, (byWorker.get(id) || 0) + 1);
      c.close();
      waiting.delete(n);
      answered++;
      if (started < flows) {
        startOne();
      } else if (waiting.size === 0) {
        clearInterval(resend);
        cluster.disconnect();
      }
    });
    c.bind(0, '127.0.0.1', () => c.send('who', port, '127.0.0.1'));
  };
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', (w, addr) => {
    if (++listening !== workers) return;
    port = addr.port;
    for (let i = 0; i < concurrency && started < flows; i++) startOne();
    resend = setInterval(() => {
      if (++rounds > 100) {
        clearInterval(resend);
        for (const c of waiting.values()) c.close();
        waiting.clear();
        cluster.disconnect();
        return;
      }
      for (const c of waiting.values()) c.send('who', port, '127.0.0.1');
    }, 200);
  });
  process.on('exit', () => {
    if (answered !== flows) {
      console.error(`udp_fair_bench: ${answered} of ${flows} flows answered`);
      process.exitCode = 1;
      return;
    }
    const counts = [...byWorker.values()];
    const mx = Math.max(...counts);
    const mn = counts.length < workers ? 0 : Math.min(...counts);
    console.log(JSON.stringify({
      impl: 'node',
      policy: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none',
      workers,
      max_min: mn ? +(mx / mn).toFixed(3) : 1e9,
      min_flows: mn,
      max_flows: mx,
    }));
  });
}
