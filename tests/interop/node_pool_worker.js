// An unmodified-Node worker in a cppcluster Pool: it answers every connection with its pid, tells
// the pool it is ready with the pool's plain message once it listens, and on the pool's retiring
// message answers {retiring: true} (what a real server would do: close idle connections).
'use strict';
const cluster = require('cluster');
const net = require('net');

if (!cluster.isWorker) {
  console.error('node_pool_worker.js must run as a cluster worker');
  process.exit(2);
}

const server = net.createServer((s) => s.end(`pid:${process.pid}\n`));
server.listen(0, '127.0.0.1', () => process.send({ cmd: 'CPPCLUSTER_READY' }));
process.on('message', (m) => {
  if (m && m.cmd === 'CPPCLUSTER_RETIRING') process.send({ retiring: true });
});
