// A Node.js primary whose workers are the C++ test binary (role http_hello_worker, serving HTTP
// with cluster::net::Server on listen(0)). It checks that both workers listen on the same port,
// that real HTTP requests are answered (by both workers under round-robin), and that
// cluster.disconnect() ends them cleanly. Exits 0 when every check passed.
// Usage: node node_primary_server.js <cpp-binary> rr|none
'use strict';
const assert = require('assert');
const cluster = require('cluster');
const http = require('http');

const [binary, policy] = process.argv.slice(2);
cluster.schedulingPolicy = policy === 'none' ? cluster.SCHED_NONE : cluster.SCHED_RR;
process.execPath = binary;
cluster.setupPrimary({ exec: 'cppcluster-worker', execArgv: [], args: [] });

const deadline = setTimeout(() => {
  console.error('node_primary_server.js: timed out');
  process.exit(3);
}, 30000);

const WORKERS = 2;
const REQUESTS = 10;
const listening = [];
const seen = {};
const exits = [];

for (let i = 0; i < WORKERS; i++) {
  const w = cluster.fork({ CPPCLUSTER_TEST_ROLE: 'http_hello_worker' });
  w.on('exit', (code, signal) => {
    exits.push({ id: w.id, code, signal, exitedAfterDisconnect: w.exitedAfterDisconnect });
    if (exits.length === WORKERS) finish();
  });
}

cluster.on('listening', (worker, address) => {
  listening.push(address);
  if (listening.length === WORKERS) run().catch((e) => {
    console.error(e);
    process.exit(1);
  });
});

function get(port) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, id: res.headers['x-worker-id'], body }));
    }).on('error', reject);
  });
}

async function run() {
  const port = listening[0].port;
  for (const a of listening) {
    assert.strictEqual(a.port, port);
    assert.strictEqual(a.addressType, 4);
    assert.strictEqual(a.address, null);
  }
  assert.ok(port > 0);
  for (let i = 0; i < REQUESTS; i++) {
    const r = await get(port);
    assert.strictEqual(r.status, 200);
    assert.strictEqual(r.body, 'hello world\n');
    seen[r.id] = (seen[r.id] || 0) + 1;
  }
  if (policy !== 'none') assert.deepStrictEqual(Object.keys(seen).sort(), ['1', '2']);
  cluster.disconnect();
}

function finish() {
  clearTimeout(deadline);
  for (const e of exits) {
    assert.deepStrictEqual([e.code, e.signal, e.exitedAfterDisconnect], [0, null, true], `worker ${e.id}`);
  }
  assert.deepStrictEqual(Object.keys(cluster.workers), []);
  console.log(`node_primary_server.js (${policy}): all checks passed ${JSON.stringify(seen)}`);
}
