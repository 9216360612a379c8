// Body pose: 33 landmarks of one person and the skeleton between them, over the webcam.
//   1. runway-bridge serve --model pose
//   2. open http://127.0.0.1:8000/examples/p5js/pose/index.html
// In the p5.js web editor: add <script src="http://127.0.0.1:8000/client/runway-bridge.js"></script>
// to index.html (after p5) and paste this file as sketch.js.

let video;
let bodyPose;
let skeleton = [];  // index pairs: shoulder-elbow, elbow-wrist, ...
let poses = [];
let status = 'starting pose…';

function setup() {
  createCanvas(640, 480);
  video = createCapture(VIDEO);
  video.hide();
  const bridge = new RunwayBridge();
  bridge.model('pose', { start: true }).then((model) => {
    bodyPose = model;
    skeleton = model.getSkeleton();
    model.detectStart(video, gotPoses);
    status = '';
  }).catch((err) => { status = err.message; });
}

function gotPoses(results, error) {
  status = error ? error.message : '';
  poses = results;
  window.example = { results, fps: results.fps, latency: results.latency, dropped: results.dropped, error: status };
}

function draw() {
  if (video.width > 0 && (video.width !== width || video.height !== height)) resizeCanvas(video.width, video.height);
  image(video, 0, 0, width, height);
  for (const pose of poses) {
    const k = pose.keypoints;
    strokeWeight(3);
    stroke(255, 255, 255, 200);
    for (const [a, b] of skeleton) {
      if (k[a].confidence > 0.5 && k[b].confidence > 0.5) line(k[a].x, k[a].y, k[b].x, k[b].y);
    }
    noStroke();
    for (const p of k) {
      if (p.confidence < 0.5) continue;  // confidence is the landmark's visibility, 0..1
      fill(255, 80, 120);
      circle(p.x, p.y, 9);
    }
    fill(255, 220, 0);
    circle(pose.nose.x, pose.nose.y, 14);  // named points: pose.nose, pose.left_wrist, pose.right_ankle, ...
  }
  const msg = status || (bodyPose ? `${bodyPose.id}  ${poses.length} found  ${nf(bodyPose.fps, 1, 1)} fps  ` +
    `latency ${nf(bodyPose.latency, 1, 1)} ms  dropped ${bodyPose.dropped}` : '');
  noStroke();
  fill(0, 160);
  rect(0, height - 24, width, 24);
  fill(255);
  textSize(13);
  text(msg, 8, height - 8);
  select('#stats').html(msg);
}
