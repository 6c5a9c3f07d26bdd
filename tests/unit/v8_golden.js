'use strict';
// Prints the frames node 20 writes on an 'advanced' IPC channel for a fixed list of values, one
// "name hex" line each. The bytes come from node's real channel: the child is `cat`, which copies
// the channel (fd 3) to its stdout. Each value is built in a fresh vm context so V8's hidden
// classes start clean (a field once seen holding 1.5 makes V8 write a later 1 there as a double).
// tests/unit/v8_codec_test.cpp holds the expected Message for each name.
const { spawn } = require('child_process');
const vm = require('vm');

const cases = [
  ['null', 'null'],
  ['true', 'true'],
  ['false', 'false'],
  ['int_0', '0'],
  ['int_1', '1'],
  ['int_neg', '-1'],
  ['int_42', '42'],
  ['int32_max', '2 ** 31 - 1'],
  ['int32_min', '-(2 ** 31)'],
  ['num_2p31', '2 ** 31'],
  ['num_below_int32', '-(2 ** 31) - 1'],
  ['num_2p53', '2 ** 53'],
  ['num_half', '0.5'],
  ['num_pi', 'Math.PI'],
  ['num_neg_zero', '-0'],
  ['num_nan', 'NaN'],
  ['num_inf', 'Infinity'],
  ['num_ninf', '-Infinity'],
  ['num_1e21', '1e21'],
  ['str_empty', "''"],
  ['str_hello', "'hello'"],
  ['str_latin1', "'wörld ÿ'"],
  ['str_nul', "'a\\u0000b'"],
  ['str_bmp', "'€uro'"],
  ['str_astral', "'😀'"],
  ['str_long_two_byte', "'€'.repeat(100)"],
  ['str_long_one_byte', "'x'.repeat(300)"],
  ['obj_pad0', "({ a: '€' })"],
  ['obj_pad1', "({ ab: '€' })"],
  ['obj_pad2', "({ abc: '€', d: 'ü€' })"],
  ['arr_pad', "['x', '€', 'yy', '€']"],
  ['arr_empty', '[]'],
  ['arr_mixed', "[1, 'x']"],
  ['arr_doubles', '[1, 2.5]'],
  ['arr_big_ints', '[1, 2 ** 40]'],
  ['arr_mixed_double', "[1.5, 'x', 2]"],
  ['arr_nested', '[[1], [2, [3]], []]'],
  ['arr_literals', '[true, false, null]'],
  ['obj_empty', '({})'],
  ['obj_hello', "({ hello: 'wörld', n: 1 })"],
  ['obj_nested', "({ a: { b: { c: [1, { d: 'e' }] } }, f: null })"],
  ['obj_index_keys', "({ b: 1, 1: 2, 0: 3 })"],
  ['obj_big_index_keys', "({ 2147483647: 1, 2147483648: 2, 4294967294: 3, 4294967295: 4 })"],
  ['obj_not_index_keys', "({ '-1': 1, '01': 2, '1.5': 3, '': 4 })"],
  ['obj_many_keys', "Object.fromEntries(Array.from({ length: 20 }, (_, i) => ['k' + i, i]))"],
  ['obj_cluster_online', "({ cmd: 'NODE_CLUSTER', act: 'online', seq: 0 })"],
  ['buf', 'Buffer.from([1, 2, 3])'],
  ['buf_empty', 'Buffer.alloc(0)'],
  ['obj_buf', "({ buf: Buffer.from([1, 2, 3]), s: '€' })"],
  ['deep_arrays', "JSON.parse('['.repeat(100) + ']'.repeat(100))"],
  ['buf_16mib', 'Buffer.from(Uint8Array.from({ length: 16 << 20 }, (_, i) => (i * 7) & 255))'],
  // Decode-only: values a Message holds differently, or values only node can make.
  ['undefined_prop', '({ a: undefined, b: 1 })'],
  ['arr_undefined', '[undefined, 1]'],
  ['date_epoch', 'new Date(0)'],
  ['date_obj', "({ d: new Date(Date.UTC(2024, 1, 29, 13, 5, 9, 7)) })"],
  ['date_negative', 'new Date(-1)'],
  ['date_far', 'new Date(8.64e15)'],
  ['date_invalid', 'new Date(NaN)'],
  ['bigint_small', '({ n: 1n, m: -1n, z: 0n })'],
  ['bigint_extremes', '({ min: -(2n ** 63n), max: 2n ** 64n - 1n })'],
  ['map', "new Map([['a', 1], [2, 'b']])"],
  ['set', "new Set([1, 'x', 1])"],
  ['regexp', '({ r: /a+b/gi })'],
  ['boxed', "[new Number(1.5), new String('s€'), new Boolean(false), new Boolean(true), Object(5n)]"],
  ['shared_object', '(() => { const o = { x: 1 }; return [o, o, { o }]; })()'],
  ['shared_buffer', '(() => { const b = Buffer.from([7]); return { a: b, b }; })()'],
  ['sparse', '[1, , 3]'],
  ['holes', 'new Array(3)'],
  ['arr_named_prop', '(() => { const a = [1, 2]; a.x = 5; return a; })()'],
  ['u8', 'new Uint8Array([1, 2, 255])'],
  ['u8_clamped', 'new Uint8ClampedArray([9])'],
  ['i8', 'new Int8Array([-1, 1])'],
  ['i16', 'new Int16Array([1, -1])'],
  ['u16', 'new Uint16Array([65535])'],
  ['i32', 'new Int32Array([-5])'],
  ['u32', 'new Uint32Array([4294967295])'],
  ['f32', 'new Float32Array([0.5, 2])'],
  ['f64', 'new Float64Array([0.25, -3])'],
  ['big64', 'new BigInt64Array([-1n, 5n])'],
  ['bigu64', 'new BigUint64Array([2n ** 64n - 1n])'],
  ['dataview', 'new DataView(new Uint8Array([4, 5]).buffer)'],
  ['arraybuffer', 'new Uint8Array([6, 7]).buffer'],
  ['error', "(() => { const e = new RangeError('r'); e.stack = undefined; return e; })()"],
  ['error_cause', "(() => { const e = new Error('x', { cause: { c: 1 } }); e.stack = 'S'; return e; })()"],
  ['two_byte_latin1', "'aé€'.slice(0, 2)"],
  ['circular', '(() => { const o = { a: 1 }; o.self = o; return o; })()'],
];

const child = spawn('sh', ['-c', 'exec cat <&3'], {
  stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  serialization: 'advanced',
});
const chunks = [];
child.stdout.on('data', (c) => chunks.push(c));
child.stdout.on('end', () => {
  const all = Buffer.concat(chunks);
  const out = [];
  let off = 0;
  for (const [name] of cases) {
    const len = all.readUInt32BE(off);
    out.push(`${name} ${all.subarray(off, off + 4 + len).toString('hex')}\n`);
    off += 4 + len;
  }
  if (off !== all.length) throw new Error(`${all.length - off} bytes left over`);
  process.stdout.write(out.join(''));
});

let sent = 0;
for (const [, src] of cases) {
  // Each send's callback runs once its write is done; disconnecting earlier could cancel it.
  child.send(vm.runInNewContext(src, { Buffer }), (err) => {
    if (err) throw err;
    if (++sent === cases.length) child.disconnect();
  });
}
