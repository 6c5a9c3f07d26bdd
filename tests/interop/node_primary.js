// A Node.js primary that forks the C++ test binary as its worker (process.execPath is pointed at
// it) and checks the cluster events and messages it sees. Exits 0 when every check passed.
// Usage: node node_primary.js <cpp-binary> [json|advanced]
'use strict';
const assert = require('assert');
const cluster = require('cluster');

const binary = process.argv[2];
const serialization = process.argv[3] || 'json';
process.execPath = binary;
cluster.setupPrimary({ exec: 'cppcluster-worker', execArgv: [], args: [], serialization });

const deadline = setTimeout(() => {
  console.error('node_primary.js: timed out');
  process.exit(3);
}, 30000);

const seen = [];
const results = new Map();

function forkRole(mode) {
  const w = cluster.fork({ CPPCLUSTER_TEST_ROLE: 'node_interop', INTEROP_SERIALIZATION: serialization });
  const log = [];
  results.set(w.id, { mode, log });
  w.on('online', () => log.push('online'));
  w.on('message', (m) => {
    log.push(['message', m]);
    if (m.ready) {
      w.send({ hello: 'wörld', n: 1, list: [1, 'x', null, true], nested: { deep: { ok: true } } });
    } else if (m.echo) {
      assert.deepStrictEqual(m.echo, { hello: 'wörld', n: 1, list: [1, 'x', null, true], nested: { deep: { ok: true } } });
      if (mode === 'primary-disconnect') w.disconnect();
      else if (mode === 'worker-disconnect') w.send('disconnect yourself');
      else if (mode === 'kill') w.kill('SIGKILL');
    }
  });
  w.on('disconnect', () => {
    log.push(['disconnect', w.exitedAfterDisconnect]);
    seen.push(`d${w.id}`);
    if (seen.length === 6) finish();
  });
  w.on('exit', (code, signal) => {
    log.push(['exit', code, signal, w.exitedAfterDisconnect]);
    seen.push(`e${w.id}`);
    if (seen.length === 6) finish();
  });
  return w;
}

function finish() {
  clearTimeout(deadline);
  for (const [id, { mode, log }] of results) {
    const exit = log.find((e) => e[0] === 'exit');
    assert.strictEqual(log[0], 'online', `worker ${id}: online comes first`);
    const ready = log.find((e) => e[0] === 'message' && e[1].ready)[1];
    assert.strictEqual(ready.id, id);
    assert.strictEqual(ready.serialization, serialization);
    assert.strictEqual(ready.envCleared, true);
    if (mode === 'kill') {
      assert.deepStrictEqual(exit.slice(1), [null, 'SIGKILL', false]);
    } else {
      assert.deepStrictEqual(exit.slice(1), [0, null, true], `worker ${id} (${mode}) exit`);
    }
  }
  assert.deepStrictEqual(Object.keys(cluster.workers), []);
  console.log('node_primary.js: all checks passed');
}

forkRole('primary-disconnect');
forkRole('worker-disconnect');
forkRole('kill');
