// CPU per round trip of a ~600-byte message over loopback TCP and over a Unix socket file,
// both ends in one Node process pinned to one CPU (no cross-CPU wake-ups, so the figures are the
// transports' own cost). Backs the choice of a Unix socket for our bootstraps' Runtime API
// connection (ARCHITECTURE.md#lambda-runtime-api-emulation).
//
//   taskset -c 0 node bench/transport.mjs            # both transports, 3 rounds each
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

const N = 50000;
const payload = Buffer.alloc(600, 'x');

function round(mode) {
  return new Promise((resolve) => {
    const tcp = mode === 'tcp';
    const server = net.createServer((c) => {
      if (tcp) c.setNoDelay(true);
      c.on('data', () => c.write(payload));
    });
    const file = path.join(os.tmpdir(), `portcullis-transport-bench-${process.pid}.sock`);
    if (!tcp) fs.rmSync(file, { force: true });
    const addr = tcp ? { port: 0, host: '127.0.0.1' } : { path: file };
    server.listen(addr, () => {
      const c = net.connect(tcp ? { port: server.address().port, host: '127.0.0.1' } : addr);
      if (tcp) c.setNoDelay(true);
      let n = 0;
      const t0 = process.cpuUsage();
      c.on('connect', () => c.write(payload));
      c.on('data', () => {
        if (++n < N) {
          c.write(payload);
          return;
        }
        const u = process.cpuUsage(t0);
        c.destroy();
        server.close();
        resolve({ cpu: (u.user + u.system) / N, sys: u.system / N });
      });
    });
  });
}

for (let i = 0; i < 3; i++) {
  for (const mode of ['tcp', 'unix']) {
    const r = await round(mode);
    console.log(`${mode.padEnd(4)} ${r.cpu.toFixed(2)} us CPU per round trip (system ${r.sys.toFixed(2)} us)`);
  }
}
