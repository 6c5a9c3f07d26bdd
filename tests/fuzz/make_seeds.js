'use strict';
// Writes the seed corpora of tests/fuzz/corpus/<target>/ (run once with node 20; the files are
// committed): JSON frames as JSON.stringify writes them, 'advanced' frames captured from node's
// own IPC channel (the child is `cat`, which copies the channel to its stdout, as
// tests/unit/v8_golden.js does), and the input formats of the handle-wire, primary-acts and ring
// targets described at the top of each fuzz_<target>.cpp.
const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, 'corpus');

// Writes one seed file.
function seed(target, name, bytes) {
  const dir = path.join(root, target);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, name), bytes);
}

// The frames node writes for values on an 'advanced' channel, one Buffer per value.
function captureAdvanced(values) {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'exec cat <&3'], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], serialization: 'advanced' });
    const chunks = [];
    child.stdout.on('data', (c) => chunks.push(c));
    child.stdout.on('end', () => {
      const all = Buffer.concat(chunks);
      const frames = [];
      for (let off = 0; off < all.length;) {
        const len = all.readUInt32BE(off);
        frames.push(all.subarray(off, off + 4 + len));
        off += 4 + len;
      }
      resolve(frames);
    });
    let sent = 0;
    for (const v of values) {
      child.send(v, (err) => {
        if (err) reject(err);
        if (++sent === values.length) child.disconnect();
      });
    }
  });
}

const line = (m) => JSON.stringify(m) + '\n';
const cluster = (fields) => ({ cmd: 'NODE_CLUSTER', ...fields });
// A queryServer as node 20's child.js builds it: its fields, then listen()'s options, then seq.
const queryServer = (over, seq = 1) => cluster({ addressType: 4, address: null, port: 0, act: 'queryServer', index: 0, data: null, backlog: 511, exclusive: false, ...over, seq });
const handleFrame = (type, msg, extra = {}) => ({ cmd: 'NODE_HANDLE', type, msg, ...extra });
const newconn = cluster({ act: 'newconn', key: '127.0.0.1:0:4:undefined:0', seq: 7 });

// Messages a worker sends, as values (for both codecs).
const messages = {
  online: cluster({ act: 'online', seq: 0 }),
  online_pipelined: cluster({ act: 'online', pipelinedHandles: true, seq: 0 }),
  query_tcp: queryServer({ port: 8000 }),
  query_unix: queryServer({ addressType: -1, address: '/tmp/x.sock', port: -1, readableAll: true }),
  query_udp: queryServer({ addressType: 'udp4', address: '0.0.0.0', port: 41234, flags: 4 }),
  listening: cluster({ act: 'listening', addressType: 4, address: '127.0.0.1', port: 8000, fd: -1, seq: 2 }),
  newconn_answer: cluster({ ack: 7, accepted: true, seq: 3 }),
  exited: cluster({ act: 'exitedAfterDisconnect', seq: 4 }),
  close: cluster({ act: 'close', key: '127.0.0.1:8000:4:undefined:0', seq: 5 }),
  handle: handleFrame('net.Native', newconn),
  handle_no_ack: handleFrame('net.Socket', newconn, { key: 'k', noAck: true }),
  ack: { cmd: 'NODE_HANDLE_ACK' },
  nack: { cmd: 'NODE_HANDLE_NACK' },
  user_text: { hello: 'wörld €😀', esc: '\u0001\t"\\/\u2028', n: [0, -1, 1.5, -0, 1e21, 2 ** 53, 2 ** 64] },
  user_nested: { a: { b: { c: [1, { d: 'e' }, [], {}] } }, f: null, t: true },
  user_buffer: { type: 'Buffer', data: [1, 2, 255] },
  user_scalars: [null, true, false, 'x', 42],
};

// Seeds of fuzz_json_codec: single frames, streams of several, split tails, odd white space.
function jsonSeeds() {
  for (const [name, m] of Object.entries(messages)) seed('json_codec', name, line(m));
  seed('json_codec', 'stream', Object.values(messages).slice(0, 6).map(line).join(''));
  seed('json_codec', 'partial_tail', line(messages.online) + '{"cmd":"NODE_CLU');
  seed('json_codec', 'whitespace', ' \t{ "a" : [ 1 , 2 ] }\r\n 42 \n"str"\n');
  seed('json_codec', 'unicode_escapes', '{"s":"\\u00e9\\ud83d\\ude00\\u0000"}\n');
  seed('json_codec', 'big_numbers', '[123456789012345678901234567890,-9223372036854775809,1.7976931348623157e308,5e-324]\n');
  seed('json_codec', 'duplicate_keys', '{"a":1,"b":2,"a":3}\n');
  seed('json_codec', 'deep', '['.repeat(70) + ']'.repeat(70) + '\n');
  seed('json_codec', 'empty_line', '{}\n\n');
}

// Seeds of fuzz_v8_codec: node's frames for the worker's messages and for every value kind of
// tests/unit/v8_golden.js that is small; a stream of several; payloads alone (0xFF first).
async function v8Seeds() {
  const values = {
    ...messages,
    date: new Date(0),
    bigint: { n: 1n, max: 2n ** 64n - 1n },
    map_set: [new Map([['a', 1], [2, 'b']]), new Set([1, 'x'])],
    regexp: /a+b/gi,
    boxed: [new Number(1.5), new String('s€'), new Boolean(false), Object(5n)],
    shared: (() => { const o = { x: 1 }; return [o, o, { o }]; })(),
    circular: (() => { const o = { a: 1 }; o.self = o; return o; })(),
    sparse: [1, , 3], // eslint-disable-line no-sparse-arrays
    typed: [new Uint8Array([1, 2]), new Int16Array([1, -1]), new Float64Array([0.25]), new BigInt64Array([-1n])],
    dataview: new DataView(new Uint8Array([4, 5]).buffer),
    arraybuffer: new Uint8Array([6, 7]).buffer,
    buffer: Buffer.from([1, 2, 3]),
    error: (() => { const e = new RangeError('r'); e.stack = 'S'; e.cause = { c: 1 }; return e; })(),
    undefined_prop: { a: undefined, b: 1 },
    index_keys: { b: 1, 1: 2, 0: 3, 4294967295: 4 },
  };
  const names = Object.keys(values);
  const frames = await captureAdvanced(Object.values(values));
  names.forEach((name, i) => seed('v8_codec', name, frames[i]));
  seed('v8_codec', 'stream', Buffer.concat(frames.slice(0, 5)));
  for (const name of ['user_text', 'shared', 'error', 'typed']) {
    seed('v8_codec', `payload_${name}`, frames[names.indexOf(name)].subarray(4));
  }
  return frames;
}

// One handle-wire operation: opcode (op | arg << 3) and, for a segment, a u16 length and bytes.
function op(code, arg = 0, bytes) {
  const head = Buffer.from([code | (arg << 3)]);
  if (!bytes) return head;
  const len = Buffer.alloc(2);
  len.writeUInt16LE(bytes.length);
  return Buffer.concat([head, len, Buffer.from(bytes)]);
}
// A segment with nfds descriptors of kind (0 TCP, 1 UDP, 2 Unix, 3 pipe, 4 file, 5 eventfd, 6 TCP6).
const segment = (bytes, nfds = 0, kind = 0) => op(0, nfds | (kind << 2), bytes);

// Seeds of fuzz_handle_wire, in json (first byte 0) and advanced (1) mode.
function handleWireSeeds(advanced) {
  const j = (m) => line(m);
  const hs = (type, extra) => j(handleFrame(type, newconn, extra));
  const s = (name, ...ops) => seed('handle_wire', name, Buffer.concat([Buffer.from([0]), ...ops]));
  s('handle_with_fd', segment(hs('net.Native'), 1, 0));
  s('handle_no_ack', segment(hs('net.Socket', { noAck: true }), 1, 2));
  s('handle_without_fd', segment(hs('net.Native')));
  s('handle_no_ack_without_fd', segment(hs('net.Native', { noAck: true })));
  s('handle_unknown_type', segment(hs('bogus'), 1, 3));
  s('handle_dgram', segment(j(handleFrame('dgram.Native', { cmd: 'NODE_CLUSTER', act: 'x' }, { dgramType: 'udp4' })), 1, 1));
  s('handle_server_key', segment(hs('net.Server', { key: 'k' }), 1, 6));
  s('two_handles_one_read', segment(hs('net.Native', { noAck: true }) + hs('net.Native', { noAck: true }), 2, 0));
  s('stray_fd_on_user_message', segment(j(messages.user_text), 3, 4));
  s('internal_and_user', segment(j(messages.online) + j(messages.user_nested)));
  s('send_then_ack', op(3), segment(j(messages.ack)), op(7));
  s('send_then_nack_x4', op(3), segment(j(messages.nack)), segment(j(messages.nack)), segment(j(messages.nack)), segment(j(messages.nack)));
  s('pipelined_sends', op(5, 1), op(3), op(3, 1), op(4, 2), op(7));
  s('queued_behind_handle', op(3), op(7), op(4, 1), op(6, 0), segment(j(messages.ack)));
  s('destroy_with_pending', op(3), op(4), op(6, 1));
  s('peer_shuts_mid_frame', segment('{"cmd":"NODE_HAN', 1, 0), op(6, 2));
  s('garbage', segment('not json\n', 1, 5));
  s('split_frame_fd_first', segment('{"cmd":"NODE_HANDLE","type":"net.Native",', 1, 0), segment('"msg":{"a":1}}\n'));
  const a = (name, ...ops) => seed('handle_wire', name, Buffer.concat([Buffer.from([1]), ...ops]));
  a('advanced_handle', segment(advanced.handle, 1, 0));
  a('advanced_handle_no_ack', segment(advanced.handle_no_ack, 1, 2));
  a('advanced_ack_after_send', op(3), segment(advanced.ack));
}

// Seeds of fuzz_primary_acts: lines of a worker's messages (harness fields explained there).
function primaryActsSeeds() {
  const s = (name, ...ms) => seed('primary_acts', name, ms.map(line).join(''));
  s('online', messages.online, messages.online_pipelined);
  s('query_tcp_connect_answer', queryServer({ port: 8000 }), { $connect: 0 }, cluster({ ack: '$', accepted: true }), messages.close);
  s('query_tcp_refuse', queryServer({}), { $connect: 0 }, cluster({ ack: '$', accepted: false }), { ...queryServer({}, 2), $w: 1 }, cluster({ ack: '$', accepted: true, $w: 1 }));
  s('query_two_workers', queryServer({}), { ...queryServer({}), $w: 1 }, { $connect: 0 }, { $connect: 0 }, cluster({ act: 'close', key: 'null:0:4:null:0', $w: 1 }));
  s('query_ipv6', queryServer({ address: '::1', addressType: 6, port: 0, flags: 1 }), { $connect: 0 });
  s('query_unix', messages.query_unix, { $connect: 0 }, cluster({ ack: '$', accepted: true }));
  s('query_udp', messages.query_udp, queryServer({ addressType: 'udp6', address: '::', port: 0 }));
  s('query_fds', ...[0, 1, 2, 3, 4, 5].map((fd) => queryServer({ fd, port: null, address: null, index: fd })));
  s('query_odd_types', queryServer({ port: '80', addressType: 'x', backlog: -1, index: 1.5, data: { k: [1] } }), queryServer({ port: 1e300, address: 7, fd: -3, readableAll: 'yes' }));
  s('query_after_exited', messages.exited, queryServer({}));
  s('listening', messages.listening, cluster({ act: 'listening', addressType: 'udp6', port: 'x', fd: 3.5 }));
  s('unknown_and_bad_acts', cluster({ act: 'nope' }), cluster({ act: 5 }), cluster({ act: null }), cluster({ ack: -1 }), cluster({}));
  s('close_odd_keys', cluster({ act: 'close', key: 5 }), cluster({ act: 'close' }), cluster({ act: 'close', key: 'missing' }));
  s('other_internal', { cmd: 'NODE_HANDLE' }, { cmd: 'NODE_FOO', act: 'online' }, { cmd: 'NODE_CLUSTER', act: 'queryServer', $w: 1 });
  s('reuse_key_data', queryServer({ data: 'ticket' }), { ...queryServer({ data: 'other' }), $w: 1 });
  s('worker_leaves_with_servers', queryServer({}), { ...queryServer({}), $w: 1 }, { $connect: 0 }, { $connect: 0 }, { $leave: 1 }, cluster({ ack: '$', accepted: false, $w: 1 }), { $connect: 0 });
  s('handles_from_worker', { cmd: 'NODE_HANDLE', type: 'net.Native', msg: queryServer({}), $fds: 1 }, { cmd: 'NODE_HANDLE', type: 'net.Socket', msg: { a: 1 } }, { ...messages.user_text, $fds: 3 });
  s('server_bound', ...Array.from({ length: 18 }, (_, index) => queryServer({ index })));
}

// One ring operation (fuzz_ring.cpp): poke, write, read or a flag call.
const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
const u64 = (v) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(v))); return b; };
const poke = (how, v) => Buffer.concat([Buffer.from([0, how]), u64(v)]);
const write = (n) => Buffer.concat([Buffer.from([1]), u16(n)]);
const read = (n) => Buffer.concat([Buffer.from([2]), u16(n)]);
const flag = (which) => Buffer.from([3 | (which << 2)]);

// Seeds of fuzz_ring: the heap ring (mode 0), a mapped pair (1) and attach (2).
function ringSeeds() {
  const heap = (name, cap, ...ops) => seed('ring', name, Buffer.concat([Buffer.from([0]), u16(cap - 1), ...ops]));
  heap('wrap_around', 64, write(40), read(40), write(40), read(10), write(60), read(100));
  heap('full_then_flags', 16, flag(0), write(16), flag(2), read(4), flag(3), flag(2), flag(1));
  heap('tail_far_ahead', 64, write(3), poke(1, 1 << 20), read(64), write(8));
  heap('head_past_tail', 64, write(3), poke(0, 10), write(8), read(8));
  heap('near_distance', 100, poke(3, 150), read(200), poke(2, 7), read(5), write(300));
  heap('positions_at_wrap', 48, poke(0, -5), poke(1, -5), write(30), read(30));
  heap('flags_garbage', 32, poke(4, 7), flag(1), poke(5, 2), flag(3), flag(4));
  const mapped = (name, cap, ...ops) => seed('ring', name, Buffer.concat([Buffer.from([1]), u16(cap - 1), Buffer.from([1, 1]), ...ops]));
  mapped('mapped_pair', 4096, write(4000), flag(2), poke(1, -1), write(1));
  const attach = (name, which, ...fields) => seed('ring', name, Buffer.concat([Buffer.from([2]), u16(63), Buffer.from([which]), ...fields]));
  attach('attach_ok', 0);
  attach('attach_bad_magic', 1, u64(1));
  attach('attach_bad_capacity', 2, u64(64));
}

(async () => {
  fs.rmSync(root, { recursive: true, force: true });
  jsonSeeds();
  const frames = await v8Seeds();
  const advanced = {};
  Object.keys(messages).forEach((name, i) => { advanced[name] = frames[i]; });
  handleWireSeeds(advanced);
  primaryActsSeeds();
  ringSeeds();
})();
