// A Node.js primary under serialization: 'advanced' that forks the C++ test binary as its worker
// (process.execPath is pointed at it; the worker runs the adv_echo role) and sends it values only
// JS has. Each echo must equal the approximation docs/serialization.md documents (Map -> array
// of pairs, Date -> ISO string, undefined property -> dropped, ...). Exits 0 when all match.
// Usage: node node_advanced_primary.js <cpp-binary>
'use strict';
const assert = require('assert');
const cluster = require('cluster');

process.execPath = process.argv[2];
cluster.setupPrimary({ exec: 'cppcluster-worker', execArgv: [], args: [], serialization: 'advanced' });

const deadline = setTimeout(() => {
  console.error('node_advanced_primary.js: timed out');
  process.exit(3);
}, 50000);

function nest(depth) {
  let v = 'bottom';
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

const mebibyte = Buffer.alloc(1 << 20);
for (let i = 0, x = 7; i < mebibyte.length; i++) {
  x = (Math.imul(x, 1103515245) + 12345) >>> 0;
  mebibyte[i] = x >>> 24;
}
const error = new RangeError('boom');
const shared = { x: 1 };
const SAME = Symbol('same');

// [name, value sent, value the C++ worker's echo must equal (SAME: the value itself)]
const cases = [
  ['null', null, SAME],
  ['true', true, SAME],
  ['int32', -5, SAME],
  ['2**31', 2 ** 31, SAME],
  ['uint32 max', 4294967295, SAME],
  ['double', 1.5, SAME],
  ['-0', -0, SAME],
  ['NaN', NaN, SAME],
  ['-Infinity', -Infinity, SAME],
  ['past 2**53', 2 ** 53 + 2, SAME],
  ['1e300', 1e300, SAME],
  ['one-byte string', 'caf\u00e9 \u00ff', SAME],
  ['two-byte string', '\u65e5\u672c\u8a9e \u{1F600}', SAME],
  ['long two-byte string', '\u65e5'.repeat(100000), SAME],
  ['lone surrogate becomes U+FFFD', 'a\ud800b', 'a\ufffdb'],
  ['empty containers', { a: [], o: {}, s: '' }, SAME],
  ['Buffer', Buffer.from([0, 1, 2, 254, 255]), SAME],
  ['empty Buffer', Buffer.alloc(0), SAME],
  ['1 MiB Buffer', mebibyte, SAME],
  ['16 MiB Buffer', Buffer.concat(Array(16).fill(mebibyte)), SAME],
  ['Buffer view into a pool', Buffer.from('hello world').subarray(6), Buffer.from('world')],
  ['Uint8Array', new Uint8Array([1, 2, 3]), Buffer.from([1, 2, 3])],
  ['Uint8ClampedArray', new Uint8ClampedArray([4, 5]), Buffer.from([4, 5])],
  ['DataView', new DataView(new Uint8Array([9, 8, 7]).buffer), Buffer.from([9, 8, 7])],
  ['ArrayBuffer', new Uint8Array([5, 6]).buffer, Buffer.from([5, 6])],
  ['Int16Array', new Int16Array([1, -2, 300]), [1, -2, 300]],
  ['Float64Array', new Float64Array([1.5, -0.25]), [1.5, -0.25]],
  ['BigInt64Array', new BigInt64Array([-1n, 2n ** 40n]), [-1, 2 ** 40]],
  ['Map', new Map([[1, 'a'], ['k', { x: 1 }], [{ key: true }, null]]), [[1, 'a'], ['k', { x: 1 }], [{ key: true }, null]]],
  ['Set', new Set([1, 'two', [3]]), [1, 'two', [3]]],
  ['Date', new Date(0), '1970-01-01T00:00:00.000Z'],
  ['invalid Date', new Date(NaN), null],
  ['undefined property is dropped', { a: undefined, b: 1 }, { b: 1 }],
  ['undefined element', [1, undefined, 3], [1, null, 3]],
  ['hole', [1, , 3], [1, null, 3]], // eslint-disable-line no-sparse-arrays
  ['sparse array', new Array(5), [null, null, null, null, null]],
  ['array named property is dropped', Object.assign([1, 2], { x: 1 }), [1, 2]],
  // send() refuses a top-level BigInt; inside a value it is serialized.
  ['BigInts', [123n, -5n, 2n ** 63n, -(2n ** 63n)], [123, -5, 2 ** 63, -(2 ** 63)]],
  ['RegExp', /a+/gi, {}],
  ['Error', error, { name: 'RangeError', message: 'boom', stack: error.stack }],
  ['boxed primitives', [new Number(3), new String('s'), Object(true), Object(false)], [3, 's', true, false]],
  ['shared reference is copied', { a: shared, b: shared }, { a: { x: 1 }, b: { x: 1 } }],
  ['integer keys', { b: 1, 2: 'two', 1: 'one' }, SAME],
  ['nested mix',
    { a: { b: [{ c: new Map([['d', new Set([1, new Date(1e12)])]]), u: undefined }] }, buf: Buffer.from('x') },
    { a: { b: [{ c: [['d', [1, '2001-09-09T01:46:40.000Z']]] }] }, buf: Buffer.from('x') }],
  ['200 levels deep', nest(200), SAME],
];

const failures = [];
let next = 0;

const w = cluster.fork({ CPPCLUSTER_TEST_ROLE: 'adv_echo' });
w.on('error', (e) => failures.push(`worker error: ${e.stack}`));
w.on('message', (m) => {
  const [name, sent, expected] = cases[next];
  try {
    assert.deepStrictEqual(m, expected === SAME ? sent : expected);
    if (Buffer.isBuffer(m)) assert.ok(m instanceof Buffer, `${name}: a Buffer`);
  } catch (e) {
    failures.push(`${name}: ${e.message}`);
  }
  if (++next < cases.length) {
    w.send(cases[next][1]);
  } else {
    w.disconnect();
  }
});
w.on('exit', (code, signal) => {
  clearTimeout(deadline);
  if (code !== 0 || signal !== null) failures.push(`worker exit ${code} ${signal}`);
  if (next !== cases.length) failures.push(`only ${next} of ${cases.length} echoes came back`);
  if (failures.length) {
    console.error(`node_advanced_primary.js: ${failures.length} failures\n${failures.join('\n')}`);
    process.exit(1);
  }
  console.log(`node_advanced_primary.js: all ${cases.length} values came back as documented`);
});
w.send(cases[0][1]);
