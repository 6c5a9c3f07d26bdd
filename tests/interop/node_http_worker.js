// The seed's first example, worker half, for a C++ primary (exec_path = node, exec = this file).
// Two changes only: the port comes from PORT (the tests use 0, never 8000), and the response
// names the worker (X-Worker-Id) so the primary can see how connections were spread.
'use strict';
const cluster = require('cluster');
const http = require('http');

if (!cluster.isWorker) {
  console.error('node_http_worker.js must run as a cluster worker');
  process.exit(2);
}

http.createServer((req, res) => {
  res.writeHead(200, { 'X-Worker-Id': String(cluster.worker.id) });
  res.end('hello world\n');
}).listen(Number(process.env.PORT ?? 8000));

console.log(`Worker ${process.pid} started`);
