// A generator: handwritten digits from the digits_vae model; the sliders move its latent vector z.
//   1. runway-bridge serve --model digits_vae
//   2. open http://127.0.0.1:8000/examples/p5js/generator/index.html
// In the p5.js web editor: add <script src="http://127.0.0.1:8000/client/runway-bridge.js"></script>
// to index.html (after p5) and paste this file as sketch.js.

let generator;
let sliders = [];
let digitMenu;
let picture = null;  // ImageBitmap of the latest digit
let status = 'starting digits_vae…';
let dirty = true;    // inputs changed since the last request

function setup() {
  createCanvas(512, 512);
  const controls = createDiv().class('controls');
  createSpan('digit ').parent(controls);
  digitMenu = createSelect().parent(controls);
  for (let d = 0; d <= 9; d++) digitMenu.option(String(d));
  digitMenu.changed(() => { dirty = true; });
  createButton('random z').parent(controls).mousePressed(() => {
    for (const s of sliders) s.value(randomGaussian(0, 1));
    dirty = true;
  });

  const bridge = new RunwayBridge();
  bridge.model('digits_vae', { start: true }).then((model) => {
    generator = model;
    const z = model.commandSchema('generate').inputs.find((i) => i.name === 'z');
    const grid = createDiv().class('controls');
    for (let i = 0; i < z.length; i++) {  // one slider per latent dimension, -3..3 standard deviations
      const label = createElement('label', `z${i} `).parent(grid);
      const s = createSlider(-3, 3, 0, 0.01).parent(label);
      s.input(() => { dirty = true; });
      sliders.push(s);
    }
    status = '';
  }).catch((err) => { status = err.message; });
}

function draw() {
  background(20);
  if (generator && dirty) {
    dirty = false;
    const inputs = { z: sliders.map((s) => Number(s.value())), digit: digitMenu.value(), size: 512 };
    // send() keeps one request in flight: while one runs, only the newest slider position waits
    generator.send(inputs).then((results) => {
      if (!results) return;  // replaced by a newer request
      picture = results.image;
      window.example = { results, fps: generator.fps, latency: generator.latency, z: inputs.z };
    }).catch((err) => { status = err.message; });
  }
  if (picture) drawingContext.drawImage(picture, 0, 0, width, height);
  const msg = status || (generator ? `digit ${digitMenu.value()}  ${nf(generator.fps, 1, 1)} fps  ` +
    `latency ${nf(generator.latency, 1, 1)} ms` : '');
  noStroke();
  fill(0, 160);
  rect(0, height - 24, width, 24);
  fill(255);
  textSize(13);
  text(msg, 8, height - 8);
  select('#stats').html(msg);
}
