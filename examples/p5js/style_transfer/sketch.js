// Live style transfer: the webcam painted in one of 26 styles; pick one from the menu.
//   1. runway-bridge serve --model style_transfer
//   2. open http://127.0.0.1:8000/examples/p5js/style_transfer/index.html
// In the p5.js web editor: add <script src="http://127.0.0.1:8000/client/runway-bridge.js"></script>
// to index.html (after p5) and paste this file as sketch.js.

let video;
let styler;
let styled = null;  // ImageBitmap of the latest stylized frame
let styleMenu, strengthSlider;
let status = 'starting style_transfer…';

function setup() {
  createCanvas(640, 480);
  video = createCapture(VIDEO);
  video.hide();
  const controls = createDiv().class('controls');
  createSpan('style ').parent(controls);
  styleMenu = createSelect().parent(controls);
  createSpan('  strength ').parent(controls);
  strengthSlider = createSlider(0, 1, 1, 0.05).parent(controls);

  const bridge = new RunwayBridge();
  bridge.model('style_transfer', { start: true }).then((model) => {
    styler = model;
    // the command's inputs say which styles there are
    const style = model.commandSchema('stylize').inputs.find((i) => i.name === 'style');
    for (const name of style.oneOf) styleMenu.option(name);
    styleMenu.selected(style.default);
    model.detectStart(video, gotImage, {
      command: 'stylize',
      maxSide: 480,  // smaller frames are faster
      inputs: () => ({ style: styleMenu.value(), strength: Number(strengthSlider.value()) }),
    });
    status = '';
  }).catch((err) => { status = err.message; });
}

function gotImage(results, error) {
  status = error ? error.message : '';
  if (results.image) styled = results.image;  // an ImageBitmap; results.imageUrl suits an <img>
  window.example = { results, fps: results.fps, latency: results.latency, dropped: results.dropped, error: status,
                     style: styleMenu.value() };
}

function draw() {
  if (video.width > 0 && (video.width !== width || video.height !== height)) resizeCanvas(video.width, video.height);
  if (styled) drawingContext.drawImage(styled, 0, 0, width, height);
  else image(video, 0, 0, width, height);
  const msg = status || (styler ? `${styleMenu.value()}  ${nf(styler.fps, 1, 1)} fps  ` +
    `latency ${nf(styler.latency, 1, 1)} ms  dropped ${styler.dropped}` : '');
  noStroke();
  fill(0, 160);
  rect(0, height - 24, width, 24);
  fill(255);
  textSize(13);
  text(msg, 8, height - 8);
  select('#stats').html(msg);
}
