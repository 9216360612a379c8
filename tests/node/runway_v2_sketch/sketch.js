// Runway-style sketch: io.connect(server), `info` on connect, `query` with the canvas as a
// data-URI JPEG, the next frame sent when `data` arrives, then a bad query that must get `error`.
// ?server=URL&transports=polling|websocket&frames=N. Everything seen goes into window.log.
"use strict";
const params = new URLSearchParams(location.search);
const options = params.get("transports") ? { transports: params.get("transports").split(",") } : {};
const frames = Number(params.get("frames") || 3);
const socket = io.connect(params.get("server"), options);
const canvas = document.querySelector("canvas");
const ctx = canvas.getContext("2d");
const photo = new Image();
photo.src = "astronaut.jpg";
window.log = { version: io.protocol, connected: false, info: null, data: [], errors: [], done: false };

function sendImage() {
  ctx.drawImage(photo, 0, 0, canvas.width, canvas.height);
  socket.emit("query", { image: canvas.toDataURL("image/jpeg") });
}

socket.on("connect", () => {
  document.getElementById("status").textContent = "Connected";
  window.log.connected = true;
});
socket.on("info", (info) => {
  window.log.info = info;
  photo.decode().then(sendImage);
});
socket.on("data", (data) => {
  window.log.data.push(data);
  window.log.transport = socket.io.engine.transport.name;
  if (window.log.data.length < frames) sendImage();
  else socket.emit("query", { image: "data:image/jpeg;base64,bm90IGEgSlBFRw==" });
});
socket.on("error", (err) => {
  window.log.errors.push(err);
  if (typeof err === "object") window.log.done = true;
});
