// Node.js twin of bench/http_server.cpp: HTTP hello world, WORKERS (--workers, default 2) workers
// sharing one port (--port), policy from NODE_CLUSTER_SCHED_POLICY; --single: no cluster; --raw: plain
// TCP, each connection ended at once with no data (the hand-off figure).
// Prints "ready <port>" once every worker listens. Runs until killed.
'use strict';
const cluster = require('cluster');
const http = require('http');
const net = require('net');

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(name);
  return i >= 0 && i + 1 < argv.length ? Number(argv[i + 1]) : dflt;
};
const single = argv.includes('--single');
const workers = opt('--workers', 2);
const port = opt('--port', 0);
const raw = argv.includes('--raw');

// The server every process runs: HTTP hello world, or with --raw a TCP server ending each connection.
const hello = () => (raw ? net.createServer((s) => s.end()) : http.createServer((req, res) => {
  res.setHeader('Content-Type', 'text/plain');
  res.end('hello world\n');
}));

if (single) {
  const server = hello();
  server.listen(port, '127.0.0.1', () => console.log(`ready ${server.address().port}`));
} else if (cluster.isPrimary) {
  for (let i = 0; i < workers; i++) cluster.fork();
  let listening = 0;
  cluster.on('listening', (w, addr) => {
    if (++listening === workers) console.log(`ready ${addr.port}`);
  });
  cluster.on('exit', () => process.exit(1));
} else {
  hello().listen(port, '127.0.0.1');
}
