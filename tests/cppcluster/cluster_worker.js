// A Node program using cluster, run by `cppcluster run --mode cluster` as a real cluster worker:
// its http server listens on $PORT (0: a free one) through the supervisor, its primary (Node's
// round-robin hand-off), and answers "pid=P worker=ID\n". Started as a primary it exits 2.
'use strict';
const cluster = require('cluster');
const http = require('http');

if (cluster.isPrimary) {
  console.error('cluster_worker.js: not started as a cluster worker');
  process.exit(2);
}
const body = `pid=${process.pid} worker=${cluster.worker.id}\n`;
http.createServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end(body);
}).listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  console.log(`serving pid=${process.pid}`);
});
