// The kill-storm figure's pool in Node.js (twin of bench/storm_pool.cpp): WORKERS (default 2)
// workers answer every connection with "pid:<pid>" and close it; a worker that dies is replaced
// at its exit (the usual hand-written respawn); "port <n>" once one listens; SIGTERM stops it.
'use strict';
const cluster = require('cluster');
const net = require('net');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS) || 2;
  let stopping = false;
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.on('exit', (w) => {
    if (!stopping && !w.exitedAfterDisconnect) cluster.fork();
  });
  cluster.once('listening', (w, a) => console.log(`port ${a.port}`));
  process.on('SIGTERM', () => {
    stopping = true;
    cluster.disconnect();
  });
} else {
  const answer = `pid:${process.pid}\n`;
  net.createServer((s) => s.end(answer)).listen(Number(process.env.PORT) || 0, '127.0.0.1');
}
