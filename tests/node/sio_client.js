// An independent Socket.IO client for the tests: connects to a runway_bridge daemon with the npm
// socket.io-client, runs a plan, and prints every event it receives as one JSON line on stdout.
//
//   node sio_client.js '{"url": "http://127.0.0.1:8000/?model=haar_faces", "jpeg": "/tmp/a.jpg",
//                        "frames": 5, "send": "buffer"}'
//
// Plan keys: url; options (passed to io(), e.g. {"transports": ["polling"], "auth": {...}});
// jpeg (file) and frames (how many to send, each waiting for its reply; frame ids 0..n-1);
// send ("buffer" or "datauri"); flood (send this many frames without waiting, then wait for the
// last); malformed (send a list of bad queries, each waiting for its error); listen_ms (stay
// connected this long after the plan, receiving other clients' data). Binary values print as
// {"$bytes": length, "$head": "first 4 bytes in hex"}.
"use strict";
const fs = require("fs");
// "client": "v2" uses socket.io-client 2.x (Engine.IO 3), as Runway's examples bundled; default 4.x.
const plan = JSON.parse(process.argv[2]);
const v2 = plan.client === "v2";
const io = v2 ? require("socket.io-client-v2") : require("socket.io-client").io;
const print = (event, data) => process.stdout.write(JSON.stringify({ event, data }, replacer) + "\n");

function replacer(key, value) {
  if (value && value.type === "Buffer" && Array.isArray(value.data)) {
    return { $bytes: value.data.length, $head: Buffer.from(value.data.slice(0, 4)).toString("hex") };
  }
  return value;
}

const socket = io(plan.url, { reconnection: false, timeout: 10000, ...(plan.options || {}) });
const connected = new Promise((resolve) => socket.on("connect", () => {
  print("connect", { transport: socket.io.engine.transport.name });
  resolve();
}));
const waiting = [];
function next(event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 10 s`)), 10000);
    waiting.push({ event, resolve: (d) => { clearTimeout(timer); resolve(d); } });
  });
}
for (const event of ["info", "data", "error"]) {
  socket.on(event, (data) => {
    print(event, data);
    const i = waiting.findIndex((w) => w.event === event || w.event === "any");
    if (i >= 0) waiting.splice(i, 1)[0].resolve(data);
  });
}
socket.on("disconnect", (reason) => print("disconnect", { reason }));
let isConnected = false;
socket.on("connect", () => { isConnected = true; });
socket.on("connect_error", (err) => {
  print("connect_error", { message: err.message, data: err.data || null });
  process.exit(0);
});
if (v2) {
  // 2.x reports a refused connection as an `error` event carrying the message string
  socket.on("error", (data) => {
    if (!isConnected && typeof data === "string") {
      print("connect_error", { message: data, data: null });
      process.exit(0);
    }
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const info = next("info");
  await connected;
  await info;
  const jpeg = plan.jpeg ? fs.readFileSync(plan.jpeg) : null;
  const image = () => (plan.send === "datauri" ? "data:image/jpeg;base64," + jpeg.toString("base64") : jpeg);
  for (let i = 0; i < (plan.frames || 0); i++) {
    const reply = next("any");
    socket.emit("query", { image: image(), frame: i });
    await reply;
  }
  if (plan.flood) {
    for (let i = 0; i < plan.flood; i++) socket.emit("query", { image: image(), _meta: { frame: `f${i}` } });
    const last = `f${plan.flood - 1}`;
    for (;;) {
      const d = await next("data");
      if (d._meta && d._meta.frame === last) break;
    }
  }
  for (const bad of plan.malformed || []) {
    const reply = next("error");
    const payload = bad === "$garbage" ? { image: Buffer.from("not an image at all") } : bad;
    socket.emit("query", payload);
    await reply;
  }
  if (plan.after_malformed && jpeg) {
    const reply = next("data");
    socket.emit("query", { image: image(), frame: "after" });
    await reply;
  }
  if (plan.listen_ms) await sleep(plan.listen_ms);
  print("done", { transport: socket.io.engine.transport.name });
  socket.close();
}

main().catch((e) => {
  print("fail", { message: String(e && e.message) });
  socket.close();
  process.exitCode = 1;
});
