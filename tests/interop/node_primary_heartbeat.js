// A Node.js primary forking the C++ test binary as a worker with CPPCLUSTER_HEARTBEAT=1, as a
// cppcluster pool with heartbeats on would: the worker announces itself with the internal act
// cppclusterHeartbeat, and answers a ping with it. Node's primary must ignore the act (no reply,
// no error, no 'message' event) and the worker must run and leave as usual. Exits 0 when every
// check passed. Usage: node node_primary_heartbeat.js <cpp-binary>
'use strict';
const assert = require('assert');
const cluster = require('cluster');

process.execPath = process.argv[2];
cluster.setupPrimary({ exec: 'cppcluster-worker', execArgv: [], args: [] });

const deadline = setTimeout(() => {
  console.error('node_primary_heartbeat.js: timed out');
  process.exit(3);
}, 30000);

const log = [];
const w = cluster.fork({ CPPCLUSTER_TEST_ROLE: 'heartbeat_under_node_primary', CPPCLUSTER_HEARTBEAT: '1' });
w.on('online', () => log.push('online'));
w.on('error', (e) => log.push(['error', String(e)]));
// Registered after cluster's own listener, so Node has dispatched each message before we see it.
w.process.on('internalMessage', (m) => {
  if (m.act !== 'cppclusterHeartbeat') return;
  log.push('heartbeat');
  if (log.filter((e) => e === 'heartbeat').length === 2) w.send({ bye: true });
});
w.on('message', (m) => {
  log.push(['message', m]);
  // A ping as a pool sends it (Node lets a user send an internal message).
  if (m.ready) w.process.send({ cmd: 'NODE_CLUSTER', act: 'cppclusterHeartbeat', seq: 1000 });
});
w.on('exit', (code, signal) => {
  clearTimeout(deadline);
  log.push(['exit', code, signal]);
  try {
    assert.deepStrictEqual(log, [
      'online',
      'heartbeat',                        // the announcement, right after online
      ['message', { ready: true }],
      'heartbeat',                        // the answer to the ping
      ['message', { bye: true, errors: 0 }],
      ['exit', 0, null],
    ]);
  } catch (e) {
    console.error(e.message);
    process.exit(1);
  }
  process.exit(0);
});
