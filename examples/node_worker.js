// The Node.js worker of examples/node_workers.cpp: plain Node cluster code, run by a C++ primary.
const cluster = require('node:cluster');
const net = require('node:net');

process.send({ hello: 'from node', node: process.version, pid: process.pid });
net.createServer((socket) => socket.end(`node worker ${cluster.worker.id}\n`)).listen(0, '127.0.0.1');
