// The reload figure's server in Node.js (twin of examples/hello_server, whose pool reloads by
// itself): WORKERS (default 4) HTTP workers on PORT (0: a free one) answering "hello world", a
// worker that dies replaced at its exit, and SIGHUP handled the way Node users write it:
//   MODE=rolling (default): for each old worker in turn, fork a new one and, once it listens,
//     disconnect the old one (the usual hand-written rolling restart);
//   MODE=all: kill every worker and fork as many new ones at once (PM2-style restart).
// Prints "Listening on port N", "Worker <pid> started" per worker and "reload done" once the new
// workers listen and the old ones were told to go. SIGTERM disconnects every worker.
'use strict';
const cluster = require('cluster');
const http = require('http');

if (cluster.isPrimary) {
  const n = Number(process.env.WORKERS) || 4;
  const mode = process.env.MODE || 'rolling';
  let stopping = false;
  const replaced = new Set();  // workers a reload replaces itself: not respawned at their exit
  for (let i = 0; i < n; i++) cluster.fork();
  cluster.once('listening', (w, a) => console.log(`Listening on port ${a.port}`));
  cluster.on('exit', (w) => {
    if (!stopping && !w.exitedAfterDisconnect && !replaced.delete(w)) cluster.fork();
  });

  const rolling = (old, i) => {
    if (i === old.length) return console.log('reload done');
    const fresh = cluster.fork();
    fresh.once('listening', () => {
      old[i].disconnect();
      rolling(old, i + 1);
    });
  };
  const allAtOnce = (old) => {
    let listening = 0;
    for (const w of old) {
      w.process.kill('SIGTERM');
      cluster.fork().once('listening', () => {
        if (++listening === old.length) console.log('reload done');
      });
    }
  };
  process.on('SIGHUP', () => {
    const old = Object.values(cluster.workers);
    for (const w of old) replaced.add(w);
    if (mode === 'all') allAtOnce(old);
    else rolling(old, 0);
  });
  process.on('SIGTERM', () => {
    stopping = true;
    cluster.disconnect();
  });
} else {
  http.createServer((req, res) => res.end('hello world\n')).listen(Number(process.env.PORT) || 0);
  console.log(`Worker ${process.pid} started`);
}
