// The trivial Node handler for the benchmark's Lambda scenario (d): answers a fixed small JSON body,
// so the figure measures the gateway's invoke path, not the handler.
export const handler = async () => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: '{"ok":true}',
});
