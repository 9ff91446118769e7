// The peer of scripts/bench-logins.sh (a benchmark, not a test): the login path of a minimal
// Node service over @node-rs/argon2, the Rust-built argon2 the peer used, so that
// Gatehouse's logins/s are compared with a peer's measured on the same machine in the same run.
//
// It does less per login than Gatehouse (users and sessions in memory: no database write,
// no throttle, no audit event), so beating it is the conservative comparison.
//
//   node server.js PORT USERS PASSWORD
// creates users bench0..bench{USERS-1} with PASSWORD (argon2id m=19456 KiB, t=2, p=1), prints
// one line `peer: one_hash_ms=... ready` and then answers
//   POST /auth/v1/login {"login": "benchN", "password": "..."}
// with 200 {"token": ...} (a random 256-bit session id, kept as its SHA-256) or 401.
'use strict';

const crypto = require('node:crypto');
const http = require('node:http');
const { hash, verify, verifySync, Algorithm } = require('@node-rs/argon2');

const [port, userCount, password] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4]];
if (!port || !userCount || !password) {
  console.error('usage: node server.js PORT USERS PASSWORD');
  process.exit(2);
}
const params = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 };
const users = new Map();
const sessions = new Map();
const MAX_BODY = 64 * 1024;

function answer(response, status, body) {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

async function login(body) {
  let request;
  try {
    request = JSON.parse(body);
  } catch {
    return [400, { error: 'malformed JSON' }];
  }
  if (typeof request.login !== 'string' || typeof request.password !== 'string') {
    return [400, { error: 'login and password are strings' }];
  }
  const user = users.get(request.login);
  // An unknown user costs a verification too, as in Gatehouse.
  const ok = await verify(user ? user.hash : users.get('bench0').hash, request.password);
  if (!user || !ok) {
    return [401, { error: 'wrong login or password' }];
  }
  const token = crypto.randomBytes(32).toString('base64url');
  sessions.set(crypto.createHash('sha256').update(token).digest('hex'), { user: request.login, created: Date.now() });
  return [200, { token }];
}

async function main() {
  for (let i = 0; i < userCount; i++) {
    users.set(`bench${i}`, { hash: await hash(password, params) });
  }
  const stored = users.get('bench0').hash;
  for (let i = 0; i < 3; i++) verifySync(stored, password);
  const iterations = 20;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) verifySync(stored, password);
  const oneHashMs = Number(process.hrtime.bigint() - started) / 1e6 / iterations;

  const server = http.createServer((request, response) => {
    if (request.method !== 'POST' || request.url !== '/auth/v1/login') {
      return answer(response, 404, { error: 'not found' });
    }
    const chunks = [];
    let size = 0;
    request.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_BODY) {
        answer(response, 413, { error: 'body too large' });
        request.destroy();
      } else {
        chunks.push(chunk);
      }
    });
    request.on('end', () => {
      login(Buffer.concat(chunks).toString('utf8')).then(
        ([status, body]) => answer(response, status, body),
        () => answer(response, 500, { error: 'internal error' }),
      );
    });
  });
  server.keepAliveTimeout = 60_000;
  server.listen(port, '127.0.0.1', () => {
    console.log(`peer: one_hash_ms=${oneHashMs.toFixed(3)} threadpool=${process.env.UV_THREADPOOL_SIZE || 4} ready`);
  });
}

main();
