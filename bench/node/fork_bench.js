// Node.js twin of bench/fork_bench.cpp: fork() to online / listening (median over FORKS sequential
// forks), time until PARALLEL workers forked at once all listen, and the median VmRSS of those
// idle listening workers. Usage: node fork_bench.js [forks=20] [parallel=8]. Prints one JSON line.
'use strict';
const cluster = require('cluster');
const fs = require('fs');
const net = require('net');

if (cluster.isWorker) {
  net.createServer().listen(0, '127.0.0.1');
} else {
  const forks = Number(process.argv[2] || 20);
  const parallel = Number(process.argv[3] || 8);
  const median = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const msSince = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
  const vmRssKb = (pid) => {
    const m = /VmRSS:\s*(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : -1;
  };
  cluster.setupPrimary({ args: [] });
  let phase = 'sequential', tFork = 0n, tParallel = 0n, doneSequential = 0, listeningParallel = 0;
  let allListeningMs = 0, rssKb = 0;
  const onlineMs = [], listenMs = [], batch = [];
  const forkOne = () => {
    tFork = process.hrtime.bigint();
    cluster.fork();
  };
  cluster.on('online', () => {
    if (phase === 'sequential') onlineMs.push(msSince(tFork));
  });
  cluster.on('listening', (w) => {
    if (phase === 'sequential') {
      listenMs.push(msSince(tFork));
      w.kill();
    } else if (phase === 'parallel' && ++listeningParallel === parallel) {
      allListeningMs = msSince(tParallel);
      setTimeout(() => {
        rssKb = median(batch.map((x) => vmRssKb(x.process.pid)));
        phase = 'done';
        for (const x of batch) x.kill();
      }, 300);
    }
  });
  cluster.on('exit', () => {
    if (phase !== 'sequential') return;
    if (++doneSequential < forks) return forkOne();
    phase = 'parallel';
    tParallel = process.hrtime.bigint();
    for (let i = 0; i < parallel; i++) batch.push(cluster.fork());
  });
  process.on('exit', () => {
    if (listenMs.length !== forks || listeningParallel !== parallel) {
      console.error(`fork_bench: incomplete (${listenMs.length} of ${forks} forks)`);
      process.exitCode = 1;
      return;
    }
    console.log(JSON.stringify({
      impl: 'node',
      fork_online_ms: +median(onlineMs).toFixed(3),
      fork_listening_ms: +median(listenMs).toFixed(3),
      [`all${parallel}_listening_ms`]: +allListeningMs.toFixed(3),
      idle_worker_rss_kb: rssKb,
    }));
  });
  forkOne();
}
