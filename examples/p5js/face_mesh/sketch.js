// Face Mesh: 478 landmarks per face (irises included), drawn over the webcam.
//   1. runway-bridge serve --model face_mesh
//   2. open http://127.0.0.1:8000/examples/p5js/face_mesh/index.html
// In the p5.js web editor: add <script src="http://127.0.0.1:8000/client/runway-bridge.js"></script>
// to index.html (after p5) and paste this file as sketch.js.

let video;
let faceMesh;          // the model, once the bridge has it running
let connections = [];  // index pairs of the mesh's contours
let faces = [];        // the latest results: one entry per face
let status = 'starting face_mesh…';

function setup() {
  createCanvas(640, 480);
  video = createCapture(VIDEO);
  video.hide();
  const bridge = new RunwayBridge();  // the daemon that served runway-bridge.js
  bridge.model('face_mesh', { start: true, options: { max_faces: 2 } }).then((model) => {
    faceMesh = model;
    connections = model.getConnections();
    model.detectStart(video, gotFaces);  // one frame in flight, results scaled to the video
    status = '';
  }).catch((err) => { status = err.message; });
}

function gotFaces(results, error) {
  status = error ? error.message : '';
  faces = results;
  window.example = { results, fps: results.fps, latency: results.latency, dropped: results.dropped, error: status };
}

function draw() {
  fitToVideo();
  image(video, 0, 0, width, height);
  for (const face of faces) {
    const k = face.keypoints;
    stroke(0, 255, 160, 160);
    strokeWeight(1);
    for (const [a, b] of connections) line(k[a].x, k[a].y, k[b].x, k[b].y);
    noStroke();
    fill(0, 255, 160);
    for (const p of k) circle(p.x, p.y, 2);
    fill(255, 60, 90);
    circle(face.nose_tip.x, face.nose_tip.y, 10);  // named points: face.nose_tip, face.chin, face.forehead, ...
    noFill();
    stroke(255, 220, 0);
    rect(face.box.x, face.box.y, face.box.width, face.box.height);
  }
  showStats(faceMesh, faces, status);
}

// The canvas takes the camera's size, so results (in the video's pixels) line up with the picture.
function fitToVideo() {
  if (video.width > 0 && (video.width !== width || video.height !== height)) resizeCanvas(video.width, video.height);
}

function showStats(model, results, message) {
  const line1 = model ? `${model.id}  ${results.length} found  ${nf(model.fps, 1, 1)} fps  ` +
    `latency ${nf(model.latency, 1, 1)} ms  dropped ${model.dropped}` : '';
  noStroke();
  fill(0, 160);
  rect(0, height - 24, width, 24);
  fill(255);
  textSize(13);
  text(message || line1, 8, height - 8);
  select('#stats').html(message || line1);
}
