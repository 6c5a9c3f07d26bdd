// The Node.js twin of bench/ipc_bench.cpp: ping-pong RTT and one-way messages/s.
// Usage: node ipc_bench.js json|advanced [roundtrips] [messages]. Prints one JSON line.
'use strict';
const cluster = require('cluster');

function payload(i) {
  return { seq: i, kind: 'tick', body: 'x'.repeat(64) };
}

if (cluster.isWorker) {
  process.on('message', (m) => {
    if (m && m.blast !== undefined) {
      for (let i = 0; i < m.blast; i++) process.send(payload(i));
      process.send({ done: m.blast });
    } else {
      process.send(m);
    }
  });
} else {
  const mode = process.argv[2] || 'json';
  const roundtrips = +(process.argv[3] || 20000);
  const messages = +(process.argv[4] || 100000);
  cluster.setupPrimary({ args: [mode], serialization: mode });
  const w = cluster.fork();
  let pongs = 0, received = 0, t0, tPingEnd, tBlast0, tBlastEnd;
  const ping = { ping: 1 };
  w.on('online', () => { t0 = process.hrtime.bigint(); w.send(ping); });
  w.on('message', (m) => {
    if (pongs < roundtrips) {
      if (++pongs < roundtrips) w.send(ping);
      else { tPingEnd = process.hrtime.bigint(); tBlast0 = process.hrtime.bigint(); w.send({ blast: messages }); }
      return;
    }
    if (m && m.done !== undefined) { tBlastEnd = process.hrtime.bigint(); w.disconnect(); return; }
    received++;
  });
  w.on('exit', () => {
    if (received !== messages) { console.error(`received ${received} of ${messages}`); process.exit(1); }
    const rtt = Number(tPingEnd - t0) / roundtrips / 1e3;
    const mps = messages / (Number(tBlastEnd - tBlast0) / 1e9);
    console.log(JSON.stringify({ impl: 'node', mode, rtt_us: +rtt.toFixed(2), msgs_per_s: Math.round(mps) }));
  });
}
