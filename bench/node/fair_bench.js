// Node.js twin of bench/fair_bench.cpp: WORKERS workers share a loopback port (policy from
// NODE_CLUSTER_SCHED_POLICY); the primary opens CONNS short connections, CONCURRENCY at a time,
// then asks each worker how many it got. Usage: node fair_bench.js [workers=2] [conns=2000]
// [concurrency=10]. Prints one JSON line with max/min connections per worker.
'use strict';
const cluster = require('cluster');
const net = require('net');

if (cluster.isWorker) {
  let n = 0;
  net.createServer((s) => {
    n++;
    s.end();
  }).listen(0, '127.0.0.1');
  process.on('message', () => process.send({ count: n }));
} else {
  const workers = Number(process.argv[2] || 2);
  const conns = Number(process.argv[3] || 2000);
  const concurrency = Number(process.argv[4] || 10);
  cluster.setupPrimary({ args: [] });
  let port = 0, listening = 0, started = 0, finished = 0, failed = 0;
  const counts = [];
  const openOne = () => {
    started++;
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => failed++);
    s.resume();
    s.on('close', () => {
      if (++finished === conns) {
        for (const w of Object.values(cluster.workers)) w.send({ cmd: 'count' });
      } else if (started < conns) {
        openOne();
      }
    });
  };
  for (let i = 0; i < workers; i++) cluster.fork();
  cluster.on('listening', (w, addr) => {
    if (++listening !== workers) return;
    port = addr.port;
    for (let i = 0; i < concurrency && started < conns; i++) openOne();
  });
  cluster.on('message', (w, m) => {
    if (!m || typeof m.count !== 'number') return;
    counts.push(m.count);
    if (counts.length === workers) cluster.disconnect();
  });
  process.on('exit', () => {
    if (counts.length !== workers || failed) {
      console.error(`fair_bench: ${counts.length} of ${workers} counts, ${failed} failed connections`);
      process.exitCode = 1;
      return;
    }
    const mx = Math.max(...counts), mn = Math.min(...counts);
    console.log(JSON.stringify({
      impl: 'node',
      policy: cluster.schedulingPolicy === cluster.SCHED_RR ? 'rr' : 'none',
      workers,
      max_min: mn ? +(mx / mn).toFixed(3) : 1e9,
      min_conns: mn,
      max_conns: mx,
    }));
  });
}
