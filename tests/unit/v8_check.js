'use strict';
// Usage: node v8_check.js FRAMES EXPECTED
//   FRAMES:   lines "name hex", each hex one whole 'advanced' frame (length prefix included)
//   EXPECTED: a JSON object, name -> the value node must decode, where {"$buffer": "hex"} stands
//             for a Buffer and {"$number": "NaN" | "-0" | "Infinity" | "-Infinity"} for a number
//             JSON cannot hold.
// The frames go through node's own channel: a `cat` child copies its stdin into the IPC fd, so
// node's ChildProcessDeserializer reads them exactly as from a real peer. Exits 1 on a mismatch.
const { spawn } = require('child_process');
const fs = require('fs');
const util = require('util');

const [framesFile, expectedFile] = process.argv.slice(2);
const expected = JSON.parse(fs.readFileSync(expectedFile, 'utf8'));
const frames = fs.readFileSync(framesFile, 'utf8').split('\n').filter(Boolean).map((line) => {
  const [name, hex] = line.split(' ');
  return { name, bytes: Buffer.from(hex, 'hex') };
});

function describe(v) {
  return util.inspect(v, { depth: 6, maxArrayLength: 20, maxStringLength: 80 });
}

// Returns a path to the first difference, or null.
function diff(got, want, path) {
  if (want !== null && typeof want === 'object' && !Array.isArray(want)) {
    if (Object.keys(want).length === 1 && typeof want.$buffer === 'string') {
      if (!Buffer.isBuffer(got)) return `${path}: expected a Buffer, got ${describe(got)}`;
      return got.toString('hex') === want.$buffer ? null : `${path}: Buffer bytes differ`;
    }
    if (Object.keys(want).length === 1 && typeof want.$number === 'string') {
      return Object.is(got, Number(want.$number)) ? null : `${path}: ${describe(got)} is not ${want.$number}`;
    }
    if (got === null || typeof got !== 'object' || Array.isArray(got) || Buffer.isBuffer(got) ||
        Object.getPrototypeOf(got) !== Object.prototype) {
      return `${path}: expected a plain object, got ${describe(got)}`;
    }
    const gk = Object.keys(got);
    const wk = Object.keys(want);
    if (gk.join('\u0000') !== wk.join('\u0000')) return `${path}: keys ${describe(gk)} != ${describe(wk)}`;
    for (const k of wk) {
      const d = diff(got[k], want[k], `${path}.${k}`);
      if (d) return d;
    }
    return null;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return `${path}: expected an array, got ${describe(got)}`;
    if (got.length !== want.length) return `${path}: length ${got.length} != ${want.length}`;
    for (let i = 0; i < want.length; i++) {
      if (!(i in got)) return `${path}[${i}]: a hole`;
      const d = diff(got[i], want[i], `${path}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(got, want) ? null : `${path}: ${describe(got)} !== ${describe(want)}`;
}

const received = [];
const child = spawn('sh', ['-c', 'exec cat >&3'], {
  stdio: ['pipe', 'inherit', 'inherit', 'ipc'],
  serialization: 'advanced',
});
child.on('message', (m) => received.push(m));
child.on('internalMessage', (m) => received.push(m));
child.on('disconnect', () => {
  let failures = 0;
  if (received.length !== frames.length) {
    console.error(`received ${received.length} messages for ${frames.length} frames`);
    failures++;
  }
  frames.forEach(({ name }, i) => {
    if (!(name in expected)) {
      console.error(`${name}: no expected value`);
      failures++;
      return;
    }
    const d = diff(received[i], expected[name], name);
    if (d) {
      console.error(`MISMATCH ${d}`);
      failures++;
    }
  });
  if (failures) process.exit(1);
  console.log(`ok ${frames.length}`);
});
// Feed in uneven pieces so node's reader also sees frames split across reads.
const all = Buffer.concat(frames.map((f) => f.bytes));
for (let off = 0, step = 1; off < all.length; off += step, step = step * 3 + 1) {
  child.stdin.write(all.subarray(off, off + step));
}
child.stdin.end();
