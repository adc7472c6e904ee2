// Portcullis Node.js bootstrap: a Lambda Runtime API (2018-06-01) client for handlers named
// `path/file.export` (ESM or CommonJS, async or callback style), so users need nothing but `node`.
// Written to the state directory by portcullis-functions at start; run as `node bootstrap.mjs`.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const API = process.env.AWS_LAMBDA_RUNTIME_API || '';
const SEP = API.lastIndexOf(':');
const HOST = API.slice(0, SEP);
const PORT = Number(API.slice(SEP + 1));
const BASE = '/2018-06-01/runtime';
// The path of the gateway's private Unix socket for this instance: the same API without the
// TCP/IP path per message. Removed from the environment before the handler loads, which sees
// only what Lambda sets. TCP remains the fallback.
let local = process.env.PORTCULLIS_RUNTIME_API_LOCAL || '';
delete process.env.PORTCULLIS_RUNTIME_API_LOCAL;

// A minimal HTTP/1.1 client on one kept-alive socket. The bootstrap makes one request at a time
// to one server (the gateway's Runtime API), so a full `http.request` (agent, ClientRequest,
// IncomingMessage, stream machinery) is pure overhead: it cost more CPU per invocation than the
// gateway itself. This speaks exactly what that server sends: a status line, headers, and a
// Content-Length (or chunked) body; `Connection: close` drops the socket after the response.
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
let sock = null; // the kept-alive connection, or null
let pending = []; // { sock, resolve, reject } of the requests in flight, oldest first (pipelined)
let parts = []; // received, unparsed bytes
let have = 0; // their total length
let head = null; // the parsed status line and headers of the response being read

function connect() {
  const s = local ? net.connect({ path: local }) : net.connect({ host: HOST, port: PORT });
  if (!local) s.setNoDelay(true);
  let connected = false;
  s.on('connect', () => (connected = true));
  s.on('data', (chunk) => onData(s, chunk));
  s.on('error', (e) => {
    // The local socket could not be reached at all: use TCP from now on.
    if (local && !connected) local = '';
    drop(s, e);
  });
  s.on('close', () => drop(s, new Error('the runtime API closed the connection')));
  return s;
}

// Forgets a broken connection and fails the request waiting on it (once).
function drop(s, err) {
  if (sock === s) {
    sock = null;
    parts = [];
    have = 0;
    head = null;
  }
  s.destroy();
  const failed = pending.filter((p) => p.sock === s);
  pending = pending.filter((p) => p.sock !== s);
  for (const p of failed) p.reject(err);
}

function parseHead(text) {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
  if (!m) return null;
  const headers = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const te = headers['transfer-encoding'];
  return {
    status: Number(m[1]),
    headers,
    chunked: te !== undefined && /chunked/i.test(te),
    length: Number(headers['content-length'] ?? 0),
    close: /close/i.test(headers.connection ?? ''),
  };
}

// The body of a complete chunked message in `b`, or null while it is incomplete.
function dechunk(b) {
  const out = [];
  let at = 0;
  for (;;) {
    const eol = b.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = parseInt(b.toString('latin1', at, eol), 16);
    if (Number.isNaN(size)) throw new Error('malformed chunked body');
    if (size === 0) {
      const end = b.indexOf(HEAD_END, eol);
      return end < 0 ? null : { body: Buffer.concat(out), end: end + 4 };
    }
    if (b.length < eol + 2 + size + 2) return null;
    out.push(b.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

function onData(s, chunk) {
  if (s !== sock || pending.length === 0) {
    drop(s, new Error('unexpected data from the runtime API'));
    return;
  }
  parts.push(chunk);
  have += chunk.length;
  // Several responses may arrive in one read (requests are pipelined): parse until incomplete.
  while (pending.length > 0 && have > 0) {
    if (!head) {
      const b = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
      const end = b.indexOf(HEAD_END);
      if (end < 0) {
        parts = [b];
        if (have > MAX_HEAD) drop(s, new Error('response head too large'));
        return;
      }
      head = parseHead(b.toString('latin1', 0, end));
      if (!head) {
        drop(s, new Error('malformed response from the runtime API'));
        return;
      }
      const rest = b.subarray(end + 4);
      parts = rest.length ? [rest] : [];
      have = rest.length;
    }
    let body;
    let rest;
    if (head.chunked) {
      const b = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
      let done;
      try {
        done = dechunk(b);
      } catch (e) {
        drop(s, e);
        return;
      }
      if (done === null) return;
      body = done.body;
      rest = b.subarray(done.end);
    } else {
      if (have < head.length) return;
      const b = parts.length === 1 ? parts[0] : Buffer.concat(parts, have);
      body = b.subarray(0, head.length);
      rest = b.subarray(head.length);
    }
    const { status, headers, close } = head;
    const p = pending.shift();
    parts = rest.length ? [rest] : [];
    have = rest.length;
    head = null;
    p.resolve({ status, headers, body });
    if (close) {
      // The server ends the connection after this response: forget it with anything read past
      // the response, and fail what was pipelined behind it (the continuation of `p` runs later,
      // as a microtask, and reconnects).
      drop(s, new Error('the runtime API closed the connection'));
      return;
    }
  }
  if (have > 0 && pending.length === 0) drop(s, new Error('unexpected data from the runtime API'));
}

// Header values this client may send verbatim (no CR/LF, no bytes a latin1 write would mangle).
const SAFE_VALUE = /^[\t\x20-\x7e]*$/;

// Writes made in one tick leave in one system call: the socket is corked at the first and
// uncorked on the next tick. The main loop writes a result and the next poll back to back; as two
// writes they were two system calls here (strace: 2 writes per invocation, now 1).
function corkForThisTick(s) {
  if (s.writableCorked) return;
  s.cork();
  process.nextTick(() => s.uncork());
}

function call(method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    if (!sock) sock = connect();
    corkForThisTick(sock);
    pending.push({ sock, resolve, reject });
    let h = `${method} ${BASE}${p} HTTP/1.1\r\nHost: ${API}\r\n`;
    for (const name in headers) {
      const value = String(headers[name]);
      // An unsendable value is left out; the error body carries the same information.
      if (SAFE_VALUE.test(value)) h += `${name}: ${value}\r\n`;
    }
    if (body === undefined) {
      sock.write(h + '\r\n', 'latin1');
    } else if (typeof body === 'string') {
      sock.write(`${h}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    } else {
      sock.cork();
      sock.write(`${h}Content-Length: ${body.length}\r\n\r\n`, 'latin1');
      sock.write(body);
      sock.uncork();
    }
  });
}

function errorPayload(err, type) {
  if (err instanceof Error) {
    return {
      errorType: type || err.errorType || err.name || 'Error',
      errorMessage: err.message,
      trace: String(err.stack || '').split('\n'),
    };
  }
  return { errorType: type || typeof err, errorMessage: typeof err === 'string' ? err : JSON.stringify(err), trace: [] };
}

// Posts a result (response or error) and says so when the Runtime API refuses it. A 404 means
// this client and the API disagree on the path, so nothing will ever settle the invocation: exit,
// and the gateway reports a crash at once instead of the caller waiting for its timeout. A 400
// (the invocation was already settled, e.g. as too large) or 413 is no reason to stop.
async function deliver(p, body, headers) {
  const res = await call('POST', p, body, headers);
  if (res.status === 202) return;
  console.error(`the runtime API refused POST ${p}: ${res.status} ${res.body.toString('utf8', 0, 200)}`);
  if (res.status === 404) process.exit(1);
}

async function postError(p, err, type) {
  const payload = errorPayload(err, type);
  await deliver(p, JSON.stringify(payload), {
    'Content-Type': 'application/json',
    'Lambda-Runtime-Function-Error-Type': payload.errorType,
  });
}

function tagged(type, message) {
  const e = new Error(message);
  e.name = type;
  e.errorType = type;
  return e;
}

// `dir/file.obj.fn` -> module `dir/file`, export path `obj.fn` (the split AWS's runtime makes).
async function loadHandler() {
  const root = process.env.LAMBDA_TASK_ROOT || process.cwd();
  const spec = process.env._HANDLER || '';
  const slash = spec.lastIndexOf('/');
  const dot = spec.indexOf('.', slash + 1);
  if (dot <= slash + 1 || dot === spec.length - 1) throw tagged('Runtime.MalformedHandlerName', `Bad handler ${spec}`);
  const modulePath = spec.slice(0, dot);
  const exportPath = spec.slice(dot + 1).split('.');
  const base = path.resolve(root, modulePath);
  const file = ['.js', '.mjs', '.cjs'].map((e) => base + e).find((f) => fs.existsSync(f));
  if (!file) throw tagged('Runtime.ImportModuleError', `Error: Cannot find module '${modulePath}'`);
  let mod;
  try {
    // import() loads ESM and CommonJS alike; module syntax in a plain .js is detected by node.
    mod = await import(pathToFileURL(file).href);
  } catch (e) {
    throw tagged(e instanceof SyntaxError ? 'Runtime.UserCodeSyntaxError' : 'Runtime.ImportModuleError', String(e && e.stack || e));
  }
  const walk = (obj) => exportPath.reduce((o, k) => (o == null ? undefined : o[k]), obj);
  const fn = walk(mod) ?? walk(mod.default);
  if (typeof fn !== 'function') throw tagged('Runtime.HandlerNotFound', `${spec} is undefined or not exported`);
  return fn;
}

function run(fn, event, context) {
  return new Promise((resolve, reject) => {
    let settled = false;
    const callback = (err, result) => {
      if (settled) return;
      settled = true;
      if (err !== undefined && err !== null) reject(err);
      else resolve(result);
    };
    context.done = callback;
    context.succeed = (r) => callback(null, r);
    context.fail = (e) => callback(e ?? 'failed');
    let returned;
    try {
      returned = fn(event, context, callback);
    } catch (e) {
      callback(e);
      return;
    }
    if (returned && typeof returned.then === 'function') {
      returned.then((v) => callback(null, v), (e) => callback(e ?? new Error('Promise rejected')));
    } else if (fn.length < 3) {
      callback(null, returned);
    }
  });
}

let current = null;
async function crash(e, type) {
  if (current) await postError(`/invocation/${current}/error`, e, type).catch(() => {});
  else console.error(e);
  process.exit(129);
}
process.on('uncaughtException', (e) => crash(e, 'Runtime.UncaughtException'));
process.on('unhandledRejection', (e) => crash(e, 'Runtime.UnhandledPromiseRejection'));

// `_X_AMZN_TRACE_ID` changes with every invocation, as on AWS, but is not written with setenv(3):
// glibc never frees a `NAME=value` string once set (callers may still hold it), so an instance
// leaked ~150 bytes per invocation, without bound (150 MB per million), and each write searched
// a tree of every value ever set: it cost more CPU per invocation than everything else the
// bootstrap does. `process.env` becomes a proxy of the real environment that serves this one
// name from a variable. JavaScript sees it like any other variable: reads, `in`, `Object.keys`,
// spreads, and the environment of child processes (Node builds it from `process.env`). What does
// not see it: native getenv(3), worker threads (they copy the real environment), and
// `structuredClone(process.env)` throws (a proxy cannot be cloned); see ARCHITECTURE.md#lambda-runtime-api-emulation.
// Installed before the handler loads, and re-exported, so that `import { env } from
// 'node:process'` and a module-level `const { env } = process` get the proxy too.
const env = process.env;
const TRACE = '_X_AMZN_TRACE_ID';
let traceId; // the current invocation's trace header, or undefined
delete env[TRACE];
process.env = new Proxy(env, {
  get: (t, k) => (k === TRACE ? traceId : t[k]),
  has: (t, k) => (k === TRACE ? traceId !== undefined : k in t),
  set(t, k, v) {
    if (k === TRACE) traceId = String(v);
    else t[k] = v;
    return true;
  },
  deleteProperty(t, k) {
    if (k === TRACE) traceId = undefined;
    else delete t[k];
    return true;
  },
  defineProperty(t, k, d) {
    // What Node accepts on `process.env`: a data descriptor, writable, enumerable and
    // configurable. Anything else goes to the real environment, which throws Node's own error.
    const plain = 'value' in d && d.writable === true && d.enumerable === true && d.configurable === true;
    if (k !== TRACE || !plain) return Reflect.defineProperty(t, k, d);
    traceId = String(d.value);
    return true;
  },
  ownKeys(t) {
    // Filtered: a native setenv of the same name must not make it appear twice (a proxy that
    // lists a key twice throws on every Object.keys and child process spawn).
    const keys = Reflect.ownKeys(t).filter((k) => k !== TRACE);
    if (traceId !== undefined) keys.push(TRACE);
    return keys;
  },
  getOwnPropertyDescriptor(t, k) {
    if (k !== TRACE) return Reflect.getOwnPropertyDescriptor(t, k);
    return traceId === undefined ? undefined : { value: traceId, writable: true, enumerable: true, configurable: true };
  },
});
syncBuiltinESMExports();

let handler;
try {
  handler = await loadHandler();
} catch (e) {
  // A second attempt goes over TCP if the local socket could not be reached.
  await postError('/init/error', e)
    .catch(() => postError('/init/error', e))
    .catch(() => {});
  console.error(String(e && e.message || e));
  process.exit(1);
}

// Read once, as AWS's runtime does: every process.env access is a call into C++.
const FUNCTION_NAME = env.AWS_LAMBDA_FUNCTION_NAME;
const FUNCTION_VERSION = env.AWS_LAMBDA_FUNCTION_VERSION;
const MEMORY_SIZE = env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
const LOG_GROUP = env.AWS_LAMBDA_LOG_GROUP_NAME;
const LOG_STREAM = env.AWS_LAMBDA_LOG_STREAM_NAME;
// The previous invocation's result, posted and not yet acknowledged: the next poll is written
// right behind it on the same connection (HTTP/1.1 pipelining), saving a round trip and a
// wake-up on both sides per invocation. Responses come back in order, so once the poll has an
// answer the post's acknowledgement has been read.
let posting = null;
for (;;) {
  let next;
  for (let attempt = 0; !next; attempt++) {
    try {
      next = await call('GET', '/invocation/next');
    } catch (e) {
      // The result pipelined ahead of this poll went down with the connection: its invocation
      // is unsettled, so exit (the gateway reports the crash) rather than take another one.
      if (posting) await posting.catch(() => process.exit(1));
      posting = null;
      // A kept-alive socket the server closed fails once; a gateway that is gone fails again.
      if (attempt >= 2) process.exit(0);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (posting) {
    // A result that could not be delivered leaves its invocation unsettled: exit, so that the
    // gateway reports the crash at once.
    await posting.catch(() => process.exit(1));
    posting = null;
  }
  if (next.status !== 200) process.exit(1);
  const id = next.headers['lambda-runtime-aws-request-id'];
  const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
  const trace = next.headers['lambda-runtime-trace-id'];
  traceId = trace || undefined;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: FUNCTION_NAME,
    functionVersion: FUNCTION_VERSION,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: MEMORY_SIZE,
    awsRequestId: id,
    logGroupName: LOG_GROUP,
    logStreamName: LOG_STREAM,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  current = id;
  try {
    const event = JSON.parse(next.body.toString('utf8'));
    const result = await run(handler, event, context);
    const body = JSON.stringify(result === undefined ? null : result);
    posting = deliver(`/invocation/${id}/response`, body, { 'Content-Type': 'application/json' });
    posting.catch(() => {});
  } catch (e) {
    await postError(`/invocation/${id}/error`, e).catch(() => process.exit(1));
  }
  current = null;
}
