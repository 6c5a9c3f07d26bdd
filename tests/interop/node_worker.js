// An unmodified Node.js cluster worker for interop tests: a C++ primary forks it with
// exec_path = node. It echoes messages, reports what Node sees, and leaves as told.
'use strict';
const cluster = require('cluster');

if (!cluster.isWorker) {
  console.error('node_worker.js must run as a cluster worker');
  process.exit(2);
}

process.send({
  ready: true,
  id: cluster.worker.id,
  state: cluster.worker.state,
  envCleared: process.env.NODE_UNIQUE_ID === undefined && process.env.NODE_CHANNEL_FD === undefined,
  serialization: process.argv[2] || 'json',
});

cluster.worker.on('disconnect', () => {
  // Nothing else keeps the loop alive: the worker exits 0 once its channel is gone.
});

process.on('message', (m) => {
  if (m === 'disconnect yourself') {
    cluster.worker.disconnect();
  } else if (m === 'destroy yourself') {
    cluster.worker.destroy();
  } else if (m === 'exit 7') {
    process.exit(7);
  } else {
    process.send({ echo: m, id: cluster.worker.id });
  }
});
