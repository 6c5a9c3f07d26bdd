// An unmodified Node.js cluster worker for the 'advanced' serialization tests: a C++ primary
// forks it with exec_path = node. It sends every message back as node received it, then
// {seen: …}, what node made of it (kind, UTF-16 length, number text, Buffer checksum, key order).
// 'adv bye' makes it disconnect; it then exits 0.
'use strict';
const cluster = require('cluster');

if (!cluster.isWorker) {
  console.error('node_echo_worker.js must run as a cluster worker');
  process.exit(2);
}

// FNV-1a, 32 bits (advanced_serialization_test.cpp computes the same).
function fnv1a(bytes) {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i];
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

function describe(v) {
  if (v === null) return { kind: 'null' };
  if (Buffer.isBuffer(v)) return { kind: 'Buffer', length: v.length, fnv: fnv1a(v) };
  if (Array.isArray(v)) return { kind: 'Array', length: v.length };
  switch (typeof v) {
    case 'boolean': return { kind: 'boolean' };
    case 'number': return { kind: 'number', text: Object.is(v, -0) ? '-0' : String(v) };
    case 'string': return { kind: 'string', length: v.length };
    case 'object': return { kind: 'object', keys: Object.keys(v) };
    default: return { kind: typeof v };
  }
}

process.on('message', (m) => {
  if (m === 'adv bye') {
    cluster.worker.disconnect();
    return;
  }
  process.send(m);
  process.send({ seen: describe(m) });
});
