// Portcullis Node.js bootstrap: a Lambda Runtime API (2018-06-01) client for handlers named
// `path/file.export` (ESM or CommonJS, async or callback style), so users need nothing but `node`.
// Written to the state directory by portcullis-functions at start; run as `node bootstrap.mjs`.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const API = process.env.AWS_LAMBDA_RUNTIME_API || '';
const SEP = API.lastIndexOf(':');
const HOST = API.slice(0, SEP);
const PORT = Number(API.slice(SEP + 1));
const BASE = '/2018-06-01/runtime';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

function call(method, p, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: PORT, method, path: BASE + p, agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
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

let handler;
try {
  handler = await loadHandler();
} catch (e) {
  await postError('/init/error', e).catch(() => {});
  console.error(String(e && e.message || e));
  process.exit(1);
}

const env = process.env;
for (;;) {
  let next;
  for (let attempt = 0; !next; attempt++) {
    try {
      next = await call('GET', '/invocation/next');
    } catch (e) {
      // A kept-alive socket the server closed fails once; a gateway that is gone fails again.
      if (attempt >= 2) process.exit(0);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  if (next.status !== 200) process.exit(1);
  const id = next.headers['lambda-runtime-aws-request-id'];
  const deadline = Number(next.headers['lambda-runtime-deadline-ms']);
  const trace = next.headers['lambda-runtime-trace-id'];
  if (trace) env._X_AMZN_TRACE_ID = trace;
  else delete env._X_AMZN_TRACE_ID;
  const context = {
    callbackWaitsForEmptyEventLoop: true,
    functionName: env.AWS_LAMBDA_FUNCTION_NAME,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION,
    invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    awsRequestId: id,
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
  current = id;
  try {
    const event = JSON.parse(next.body.toString('utf8'));
    const result = await run(handler, event, context);
    const body = JSON.stringify(result === undefined ? null : result);
    await deliver(`/invocation/${id}/response`, body, { 'Content-Type': 'application/json' });
  } catch (e) {
    await postError(`/invocation/${id}/error`, e).catch(() => process.exit(1));
  }
  current = null;
}
