/**
 * `npm run example -- NAME`: the script builds proxyfix and these examples into dist/, then runs
 * this, which starts examples/NAME. Each example imports `proxyfix`, `proxyfix/node` or
 * `proxyfix/fetch` as a user's code does; from dist/ those resolve through package.json `exports`
 * to the build beside it, the same files a user would install.
 */
export const EXAMPLES = ['express', 'koa', 'fastify', 'hono', 'node-http', 'gateway', 'websocket'] as const;

const name = process.argv[2];
if (!EXAMPLES.includes(name as (typeof EXAMPLES)[number])) {
  console.error(`usage: npm run example -- NAME, where NAME is one of: ${EXAMPLES.join(', ')}`);
  if (name !== undefined) console.error(`no example called ${JSON.stringify(name)}`);
  process.exitCode = 2;
} else {
  await import(`./${name}.js`);
}
