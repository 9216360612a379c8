// The real @runwayml/hosted-models client (npm, tests/node) against the daemon. The client only takes
// https?://*.runwayml.cloud/v1 URLs, so the test points it at such a name and lets axios reach the
// daemon through http_proxy: the daemon sees exactly the requests the client sends.
//   http_proxy=http://127.0.0.1:PORT node hosted_models_peer.cjs URL TOKEN INPUTS.json
const { createRequire } = require('node:module');
const { readFileSync } = require('node:fs');
const path = require('node:path');

const { HostedModel } = createRequire(path.join(__dirname, '..', 'node', 'package.json'))('@runwayml/hosted-models');

(async () => {
  const [url, token, inputsFile] = process.argv.slice(2);
  const model = new HostedModel({ url, token });
  const out = { awake: await model.isAwake(), info: await model.info() };
  const result = await model.query(JSON.parse(readFileSync(inputsFile, 'utf8')));
  out.keys = Object.keys(result);
  out.image = String(result.image).slice(0, 22);
  try {
    await new HostedModel({ url, token: 'wrong' }).info();
    out.wrong = 'accepted';
  } catch (e) {
    out.wrong = e.message;
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.stack || e) }) + '\n');
  process.exit(1);
});
