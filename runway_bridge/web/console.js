// The daemon's web console: the catalogue, start/stop with options, a model running on the webcam, an
// image file or a daemon-side source, and the addresses other tools connect to. Plain JS, no build step;
// it talks to the daemon only through runway-bridge.js and the documented HTTP API.
(function () {
  'use strict';

  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== null && v !== undefined && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  };

  const params = new URLSearchParams(location.search);
  const bridge = new RunwayBridge(location.origin, { token: params.get('token') });
  const COLORS = ['#4cc38a', '#4b9be5', '#e5a50a', '#e5534b', '#b07be5', '#e57bc8'];

  // Everything the page shows, also read by the browser tests.
  const state = window.consoleState = {
    models: [], filter: '', selected: null, info: null, model: null,
    status: null, input: 'webcam', running: false, results: null, outputs: null, images: {}, fps: 0, latency: 0,
    dropped: 0, frames: 0, error: null, source: null,
  };
  let video = null, fileImage = null, stopListen = null, listenTimes = [];

  // -- catalogue ---------------------------------------------------------------------------------

  async function refresh() {
    try {
      state.models = await bridge.models();
      $('#conn').textContent = 'connected';
      $('#conn').className = 'badge ok';
    } catch (e) {
      $('#conn').textContent = 'bridge unreachable';
      $('#conn').className = 'badge bad';
      return;
    }
    renderCards();
    if (state.selected) {
      const m = state.models.find((x) => x.id === state.selected);
      if (m && !$('#m-start').disabled) setState({ state: m.status });
    }
  }

  function speedOf(m) {
    const s = m.speed || {};
    const ms = s.cpu_ms_640x480 ?? s.cpu_ms_256px ?? Object.values(s).find((v) => typeof v === 'number');
    return ms ? `${ms} ms${s.cpu_ms_640x480 != null ? ' / 640×480 frame' : ''} (CPU)` : '–';
  }

  function renderCards() {
    const cards = $('#cards');
    cards.replaceChildren(...state.models.filter((m) => !state.filter || m.category === state.filter).map((m) =>
      el('article', { class: 'card' + (m.id === state.selected ? ' selected' : ''), 'data-id': m.id,
        onclick: () => select(m.id) },
        el('div', { class: 'cat' }, m.category || ''),
        el('h3', {}, el('span', {}, m.name), el('span', { class: 'badge ' + m.status }, m.status.toLowerCase())),
        el('p', { title: m.description }, m.description),
        el('dl', {},
          el('dt', {}, 'licence'), el('dd', { title: m.license }, m.license || '?'),
          el('dt', {}, 'commercial'), el('dd', { class: m.commercial_use ? '' : 'nc' }, m.commercial_use ? 'yes' : 'no'),
          el('dt', {}, 'publisher'), el('dd', { title: m.publisher }, m.publisher || '?'),
          el('dt', {}, 'speed'), el('dd', {}, speedOf(m)),
          el('dt', {}, 'id'), el('dd', {}, el('code', {}, m.id))))));
  }

  for (const b of document.querySelectorAll('#filters button')) {
    b.addEventListener('click', () => {
      state.filter = b.dataset.cat;
      document.querySelectorAll('#filters button').forEach((x) => x.classList.toggle('on', x === b));
      renderCards();
    });
  }

  // -- forms generated from the manifest's types -----------------------------------------------

  function field(spec, value) {
    const v = value !== undefined ? value : spec.default;
    const hint = spec.description ? el('span', { class: 'hint' }, spec.description) : null;
    const attrs = { name: spec.name, 'data-type': spec.type };
    let input;
    if (spec.type === 'boolean') {
      input = el('input', { ...attrs, type: 'checkbox', checked: !!v });
      return el('label', { class: 'check', title: spec.description || '' }, input, spec.name);
    }
    if (spec.type === 'number') {
      input = el('input', { ...attrs, type: 'number', value: v ?? 0, min: spec.min, max: spec.max, step: spec.step ?? 'any' });
    } else if (spec.type === 'category') {
      input = el('select', attrs, (spec.oneOf || []).map((c) => el('option', { value: c, selected: c === v }, c)));
    } else if (spec.type === 'vector') {
      input = el('input', { ...attrs, value: (v || new Array(spec.length).fill(0)).join(', '),
        'data-length': spec.length });
    } else if (spec.type === 'image') {
      input = el('input', { ...attrs, type: 'file', accept: 'image/*' });
      input.addEventListener('change', async () => { input._image = await loadImage(input.files[0]); });
    } else if (spec.type === 'text') {
      input = el('input', { ...attrs, value: v ?? '' });
    } else {
      input = el('input', { ...attrs, 'data-json': 1, value: v === undefined ? '' : JSON.stringify(v) });
    }
    return el('label', {}, spec.name, input, hint);
  }

  function readForm(form) {
    const out = {};
    for (const input of form.querySelectorAll('[name]')) {
      const t = input.dataset.type;
      if (t === 'boolean') out[input.name] = input.checked;
      else if (t === 'number') out[input.name] = Number(input.value);
      else if (t === 'vector') out[input.name] = input.value.split(/[\s,]+/).filter(Boolean).map(Number);
      else if (t === 'image') { if (input._image) out[input.name] = input._image; }
      else if (input.dataset.json) { if (input.value !== '') out[input.name] = JSON.parse(input.value); }
      else out[input.name] = input.value;
    }
    return out;
  }

  function loadImage(file) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error('not an image: ' + file.name));
      img.src = URL.createObjectURL(file);
    });
  }

  // -- one model ------------------------------------------------------------------------------

  let selecting = 0;  // the newest select(): an older one's late answer must not paint over it

  async function select(id) {
    halt();
    const mine = ++selecting;
    state.selected = id;
    state.info = null;
    if (state.model) state.model.close();
    state.model = null;
    clearResults();
    // Until this model's own info arrives nothing of the previous one may show or be runnable.
    $('#panel').hidden = false;
    $('#m-name').textContent = id;
    $('#m-desc').textContent = '';
    $('#m-run').hidden = true;
    $('#m-start').disabled = true;
    $('#m-stop').disabled = true;
    $('#m-state').textContent = 'loading';
    $('#m-state').className = 'badge';
    $('#m-error').textContent = '';
    renderCards();
    let info;
    try {
      info = await bridge.info(id);
    } catch (e) {
      if (mine === selecting) $('#m-error').textContent = e.message;
      return;
    }
    if (mine !== selecting) return;
    state.info = info;
    showVideoOut(id);
    $('#m-start').disabled = false;
    $('#m-stop').disabled = false;
    $('#m-name').textContent = info.name;
    $('#m-desc').textContent = info.description;
    $('#m-card').textContent = JSON.stringify(info.card, null, 2);
    $('#m-error').textContent = '';
    const opts = (info.status && info.status.options) || {};
    $('#m-options').replaceChildren(...(info.manifest.options || []).map((o) => field(o, opts[o.name])));
    if (!(info.manifest.options || []).length) $('#m-options').append(el('span', { class: 'muted' }, 'no options'));
    $('#m-command').replaceChildren(...info.manifest.commands.map((c) =>
      el('option', { value: c.name, selected: c.name === info.card.default_command }, c.name)));
    commandChanged();
    setState(info.status);
  }

  function command() {
    const name = $('#m-command').value;
    return state.info.manifest.commands.find((c) => c.name === name) || state.info.manifest.commands[0];
  }

  function imageInput(cmd) {
    return cmd.inputs.find((i) => i.type === 'image');
  }

  function commandChanged() {
    halt();
    const cmd = command();
    const img = imageInput(cmd);
    $('#m-inputs').replaceChildren(...cmd.inputs.filter((i) => i !== img).map((i) => field(i)));
    $('#m-input-kind').hidden = !img;
    $('#m-mirror').parentElement.hidden = !img;
    state.input = img ? document.querySelector('input[name=input]:checked').value : 'none';
    inputKindChanged();
    renderEndpoints();
  }

  function inputKindChanged() {
    state.input = imageInput(command()) ? document.querySelector('input[name=input]:checked').value : 'none';
    $('#file-row').hidden = state.input !== 'file';
    $('#source-row').hidden = state.input !== 'source';
    $('#m-go').hidden = state.input === 'source';
    $('#m-halt').hidden = state.input === 'source';
  }

  function clearResults() {
    state.results = state.outputs = state.timings = null;
    state.images = {};
    state.fps = state.latency = state.dropped = state.frames = 0;
    state.error = null;
    showStats();
    const canvas = $('#m-canvas');
    canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
  }

  function setState(status) {
    const s = (status && status.state) || 'STOPPED';
    state.status = s;
    $('#m-state').textContent = s.toLowerCase();
    $('#m-state').className = 'badge ' + s;
    if (status && status.error) $('#m-error').textContent = status.error;
    $('#m-run').hidden = s !== 'RUNNING';
    $('#m-start').textContent = s === 'RUNNING' ? 'Restart with these options' : 'Start';
    if (s !== 'RUNNING' && state.running) halt();
  }

  async function ensureModel() {
    if (!state.model || state.model.id !== state.selected) {
      state.model = await bridge.model(state.selected, { command: command().name });
    }
    state.model.command = command().name;
    return state.model;
  }

  async function start() {
    const id = state.selected;
    $('#m-error').textContent = '';
    $('#m-start').disabled = true;
    setState({ state: 'STARTING' });
    try {
      halt();
      if (state.model) state.model.close();
      state.model = null;
      await bridge.start(id, readForm($('#m-options')));
      state.info = await bridge.info(id);
      setState(state.info.status);
    } catch (e) {
      $('#m-error').textContent = e.message;
      setState({ state: 'FAILED', error: e.message });
    } finally {
      $('#m-start').disabled = false;
      refresh();
    }
  }

  async function stop() {
    halt();
    if (state.model) state.model.close();
    state.model = null;
    try {
      await bridge.stop(state.selected);
    } catch (e) {
      $('#m-error').textContent = e.message;
    }
    setState({ state: 'STOPPED' });
    refresh();
  }

  // -- running it ----------------------------------------------------------------------------

  function onResults(results, error) {
    if (error) { state.error = error.message; $('#m-error').textContent = error.message; return; }
    state.error = null;
    $('#m-error').textContent = '';
    state.results = results;
    state.outputs = results.raw;
    state.images = results.images || {};
    state.fps = results.fps;
    state.latency = results.latency;
    state.dropped = results.dropped;
    state.timings = results.timings;
    state.frames++;
    showStats();
  }

  async function go() {
    halt();
    if (!state.info || state.info.id !== state.selected || state.status !== 'RUNNING') {
      $('#m-error').textContent = `${state.selected} is not running: start it first`;
      return;
    }
    clearResults();
    const m = await ensureModel();
    const cmd = command();
    const img = imageInput(cmd);
    state.running = true;
    state.frames = 0;
    if (!img || state.input === 'none') {
      // no image input: run on demand, and again whenever an input changes
      const once = () => m.send(readForm($('#m-inputs')), { command: cmd.name })
        .then((r) => r && onResults(r), (e) => onResults(null, e));
      state.rerun = once;
      once();
    } else if (state.input === 'webcam') {
      if (!video) {
        video = $('#cam');
        video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
        // A hidden <video autoplay> never starts under Chromium's default autoplay policy (it pauses
        // muted autoplay media that is not visible): the frames sent would all be the first, or black.
        // play() from the Go click's handler is allowed, and keeps the camera running while hidden.
        await video.play();
        await new Promise((ok) => { if (video.readyState >= 2) ok(); else video.onloadeddata = ok; });
      }
      m.detectStart(video, onResults, { command: cmd.name, inputs: () => readForm($('#m-inputs')) });
    } else if (state.input === 'file') {
      const f = $('#m-file').files[0];
      if (!f) { $('#m-error').textContent = 'choose an image file first'; state.running = false; return; }
      fileImage = await loadImage(f);
      const once = () => m.send({ ...readForm($('#m-inputs')), [img.name]: fileImage }, { command: cmd.name, maxSide: 1280 })
        .then((r) => r && onResults(r), (e) => onResults(null, e));
      state.rerun = once;
      once();
    }
  }

  function halt() {
    state.running = false;
    state.rerun = null;
    if (state.model) state.model.detectStop();
    if (stopListen) { stopListen(); stopListen = null; }
  }

  // A daemon-side source: the daemon reads the camera/file/URL itself; we listen to its results.
  async function sourceStart() {
    halt();
    const spec = $('#m-source').value.trim();
    if (!spec) { $('#m-error').textContent = 'give a camera index, a video file path or a URL'; return; }
    try {
      state.source = await bridge.http('POST', `/v1/models/${state.selected}/source`, { source: spec });
      $('#m-source-state').textContent = `reading ${spec}`;
    } catch (e) {
      $('#m-error').textContent = e.status === 404 && /source/.test(e.message + '') ? e.message :
        `${e.message}${e.status === 404 ? ' (this daemon has no daemon-side sources)' : ''}`;
      return;
    }
    listenAll();
  }

  function listenAll() {
    const m = state.model || new RunwayBridge.Model(bridge, state.info);
    state.running = true;
    listenTimes = [];
    stopListen = m.listen(async (header, blobs) => {
      if (header.type === 'error') { $('#m-error').textContent = header.error; return; }
      const t = performance.now();
      listenTimes.push(t);
      while (listenTimes.length > 1 && t - listenTimes[0] > 2000) listenTimes.shift();
      const images = {};
      for (const [k, b] of Object.entries(blobs)) if (b instanceof Blob) images[k] = await createImageBitmap(b);
      state.outputs = { ...(header.outputs || {}), ...blobs };
      state.images = images;
      state.fps = listenTimes.length > 1 ? (listenTimes.length - 1) * 1000 / (t - listenTimes[0]) : 0;
      state.latency = (header.timings || {}).total || 0;
      state.dropped = header.dropped || 0;
      state.timings = header.timings;
      state.frames++;
      showStats();
    });
  }

  async function sourceStop() {
    halt();
    try { await bridge.http('DELETE', `/v1/models/${state.selected}/source`); } catch (e) { /* none running */ }
    $('#m-source-state').textContent = 'stopped';
  }

  function showStats() {
    $('#s-fps').textContent = state.fps ? state.fps.toFixed(1) : '–';
    $('#s-latency').textContent = state.latency ? state.latency.toFixed(1) : '–';
    $('#s-dropped').textContent = state.dropped;
    const t = state.timings || {};
    $('#s-timings').textContent = Object.keys(t).length ?
      'server: ' + Object.entries(t).map(([k, v]) => `${k} ${Number(v).toFixed(1)}`).join(', ') + ' ms' : '';
    $('#s-found').textContent = state.results && state.results.length ? `${state.results.length} found` : '';
    // text, numbers and labels (what no overlay shows)
    const plain = state.info ? command().outputs.filter((f) => ['text', 'number', 'boolean', 'category'].includes(f.type) ||
      (f.type === 'array' && ['text', 'number', 'category'].includes((f.itemType || {}).type))) : [];
    $('#s-values').textContent = plain.filter((f) => state.outputs && state.outputs[f.name] !== undefined)
      .map((f) => `${f.name}: ${String(JSON.stringify(state.outputs[f.name])).slice(0, 400)}`).join('\n');
    const json = JSON.stringify(state.outputs, (k, v) => (v instanceof Blob ? `<${v.type}, ${v.size} bytes>` :
      typeof v === 'string' && v.length > 200 ? v.slice(0, 80) + '…' : v), 1);
    $('#m-json').textContent = json && json.length > 20000 ? json.slice(0, 20000) + '\n…' : json;
  }

  // -- drawing -------------------------------------------------------------------------------

  function fit(canvas, w, h) {
    if (w && h && (canvas.width !== w || canvas.height !== h)) { canvas.width = w; canvas.height = h; }
  }

  function draw() {
    requestAnimationFrame(draw);
    if (!state.selected || $('#m-run').hidden) return;
    const canvas = $('#m-canvas'), ctx = canvas.getContext('2d');
    const mirror = $('#m-mirror').checked && state.input === 'webcam';
    const schema = state.info ? command().outputs : [];
    const firstImage = schema.find((f) => f.type === 'image' && state.images[f.name]);
    let bg = null;
    if (state.input === 'webcam' && video && video.videoWidth) bg = video;
    else if (state.input === 'file' && fileImage) bg = fileImage;
    if (firstImage) {
      const bmp = state.images[firstImage.name];
      fit(canvas, bmp.width, bmp.height);
      ctx.drawImage(bmp, 0, 0, canvas.width, canvas.height);
    } else if (bg) {
      const w = bg.videoWidth || bg.naturalWidth, h = bg.videoHeight || bg.naturalHeight;
      const k = Math.min(1, 960 / w);
      fit(canvas, Math.round(w * k), Math.round(h * k));
      ctx.save();
      if (mirror) { ctx.translate(canvas.width, 0); ctx.scale(-1, 1); }
      ctx.drawImage(bg, 0, 0, canvas.width, canvas.height);
      ctx.restore();
    } else {
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
    }
    if (state.outputs) overlay(ctx, state.outputs, schema, canvas.width, canvas.height, mirror);
  }

  // Geometry outputs (0..1, origin top left) drawn over the picture: masks, landmarks, boxes, points.
  function overlay(ctx, outputs, schema, W, H, mirror) {
    const X = (x) => (mirror ? 1 - x : x) * W, Y = (y) => y * H;
    for (const f of schema) {
      const v = outputs[f.name];
      if (v == null) continue;
      const it = f.type === 'array' ? f.itemType || {} : f;
      const items = f.type === 'array' ? v : [v];
      if (f.type === 'segmentation' && state.images[f.name]) {
        ctx.save();
        ctx.globalAlpha = 0.5;
        ctx.drawImage(state.images[f.name], 0, 0, W, H);
        ctx.restore();
      } else if (it.type === 'image_landmarks') {
        const idx = {};
        (it.labels || []).forEach((l, i) => { idx[l] = i; });
        const pairs = (it.connections || []).map(([a, b]) => [idx[a] ?? a, idx[b] ?? b]);
        items.forEach((pts, n) => {
          const c = COLORS[n % COLORS.length];
          ctx.strokeStyle = c;
          ctx.fillStyle = c;
          ctx.lineWidth = pts.length > 100 ? 1 : 2.5;
          ctx.beginPath();
          for (const [a, b] of pairs) {
            if (!pts[a] || !pts[b]) continue;
            ctx.moveTo(X(pts[a][0]), Y(pts[a][1]));
            ctx.lineTo(X(pts[b][0]), Y(pts[b][1]));
          }
          ctx.stroke();
          const r = pts.length > 100 ? 1.2 : 4;
          for (const p of pts) { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), r, 0, 7); ctx.fill(); }
        });
      } else if (it.type === 'image_bounding_box') {
        ctx.lineWidth = 2.5;
        items.forEach((b, n) => {
          ctx.strokeStyle = COLORS[(n + 2) % COLORS.length];
          const x0 = Math.min(X(b[0]), X(b[2]));
          ctx.strokeRect(x0, Y(b[1]), Math.abs(X(b[2]) - X(b[0])), Y(b[3]) - Y(b[1]));
        });
      } else if (it.type === 'image_point') {
        ctx.fillStyle = COLORS[3];
        for (const p of items) { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 5, 0, 7); ctx.fill(); }
      }
    }
  }

  // -- addresses for other tools ------------------------------------------------------------------

  // One row: a label, the value to copy (only that is copied), and a note.
  function copyRow(label, text, note) {
    const btn = el('button', { title: 'copy', onclick: () => copy(text, btn) }, 'copy');
    return el('tr', {}, el('td', {}, label),
      el('td', {}, el('code', {}, text), note ? el('span', { class: 'muted' }, '  ' + note) : null), el('td', {}, btn));
  }

  function copy(text, btn) {
    const done = () => { btn.textContent = 'copied'; setTimeout(() => { btn.textContent = 'copy'; }, 1200); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, () => fallbackCopy(text, done));
    } else {
      fallbackCopy(text, done);
    }
  }

  function fallbackCopy(text, done) {
    const ta = el('textarea', {}, text);
    document.body.append(ta);
    ta.select();
    try { document.execCommand('copy'); done(); } finally { ta.remove(); }
  }

  function oscPart(s) { return String(s).replace(/[\s#*,/?[\]{}]/g, '_') || '_'; }

  // Video out: the model's picture published as NDI/Spout/Syphon (the daemon's /video-out API).
  async function videoOut(method) {
    const id = state.selected, path = `/v1/models/${id}/video-out`;
    $('#m-error').textContent = '';
    try {
      if (method === 'POST') {
        const st = await bridge.http('POST', path, { kind: $('#m-vo-kind').value });
        $('#m-vo-state').textContent = `publishing as "${st.name}" (${st.kind})`;
      } else {
        await bridge.http('DELETE', path);
        $('#m-vo-state').textContent = 'not published';
      }
    } catch (e) {
      $('#m-error').textContent = e.message;
    }
  }

  async function showVideoOut(id) {
    try {
      const st = await bridge.http('GET', `/v1/models/${id}/video-out`);
      if (id === state.selected) $('#m-vo-state').textContent = `publishing as "${st.name}" (${st.kind}), ${st.sent} frames sent`;
    } catch (e) {
      if (id === state.selected) $('#m-vo-state').textContent = 'not published';
    }
  }

  async function renderEndpoints() {
    const info = state.info, id = info.id, cmd = command();
    const base = `${bridge.url}/v1/models/${id}`;
    const isDefault = (state.models.find((m) => m.id === id) || {}).default;
    const rows = [
      copyRow('WebSocket', bridge.wsUrl(`/v1/models/${id}/stream`, { command: cmd.name }), 'binary frames in, results out'),
      copyRow('run a command', `${base}/commands/${cmd.name}`, 'POST JSON inputs, or a JPEG/PNG body'),
      copyRow('Runway query', `${base}/query`, 'POST'),
      copyRow('Runway data', `${base}/data`, 'GET'),
      copyRow('Runway error', `${base}/error`, 'GET'),
      copyRow('Runway info', `${base}/info`, 'GET'),
      copyRow('Socket.IO', `${bridge.url}/${id}`, `namespace /${id}; events query, data, error, info`),
    ];
    if (isDefault) {
      rows.push(copyRow('default model', `${bridge.url}/query`, 'this model also answers at the root (old Runway clients)'));
    }
    rows.push(copyRow('curl', `curl -X POST ${base}/commands/${cmd.name} -H 'Content-Type: image/jpeg' --data-binary @photo.jpg`));
    $('#m-endpoints').replaceChildren(...rows);

    // OSC ports: from /healthz when the daemon reports them, else the defaults.
    let osc = { port: 57100, reply_port: 57200 };
    try {
      const h = await bridge.http('GET', '/healthz');
      if ('osc_port' in h) osc = { port: h.osc_port, reply_port: h.osc_reply_port ?? 57200 };
    } catch (e) { /* defaults */ }
    const host = new URL(bridge.url).hostname;
    if (osc.port == null) {
      $('#osc-note').textContent = 'OSC is off on this daemon (it was started with --no-osc).';
      $('#m-osc').replaceChildren();
      return;
    }
    $('#osc-note').textContent = `OSC: send to ${host}:${osc.port}; after /server/connect, replies come to your ` +
      `host at port ${osc.reply_port}. Numbers arrive as floats: x y pairs, boxes x0 y0 x1 y1, all 0..1.`;
    const M = '/' + oscPart(id);
    const mine = (kind) => (isDefault ? `/${kind}` : `${M}/${kind}`);
    const orows = [
      copyRow('connect', '/server/connect', `to ${host}:${osc.port}; optional int argument: your reply port`),
      copyRow('query', mine('query'), 'one string argument: JSON of the inputs'),
      copyRow('data', mine('data'), 'one string: JSON of the outputs'),
      copyRow('error', mine('error'), 'one string: JSON {error, status}'),
    ];
    const numeric = ['number', 'boolean', 'vector', 'image_point', 'image_bounding_box', 'image_landmarks'];
    for (const f of cmd.outputs) {
      const it = f.type === 'array' ? f.itemType || {} : f;
      if (!numeric.includes(it.type)) continue;
      const O = `${M}/${oscPart(f.name)}`, many = f.type === 'array';
      const what = { image_landmarks: `x y × ${it.length || '?'}`, image_bounding_box: 'x0 y0 x1 y1',
        image_point: 'x y', vector: `${it.length || ''} floats`, number: 'float', boolean: '1 or 0' }[it.type];
      orows.push(copyRow(f.name, O, many ? `every item flattened (${what} each)` : what));
      if (many) {
        orows.push(copyRow(`${f.name} count`, `${O}/count`, 'int'));
        orows.push(copyRow(`${f.name}, item 0`, `${O}/0`, `then ${O}/1, …  (${what})`));
      }
      if (it.type === 'image_landmarks' && it.labels && it.labels.length <= 64) {
        const first = `${O}${many ? '/0' : ''}/${oscPart(it.labels[0])}`;
        orows.push(copyRow(`${f.name} by name`, first, `x y; also ${it.labels.slice(1, 4).map(oscPart).join(', ')}, …`));
      }
    }
    $('#m-osc').replaceChildren(...orows);
  }

  // -- wiring ----------------------------------------------------------------------------------

  $('#m-close').addEventListener('click', () => { halt(); state.selected = null; $('#panel').hidden = true; renderCards(); });
  $('#m-start').addEventListener('click', start);
  $('#m-stop').addEventListener('click', stop);
  $('#m-go').addEventListener('click', () => go().catch((e) => { $('#m-error').textContent = e.message; }));
  $('#m-halt').addEventListener('click', halt);
  $('#m-command').addEventListener('change', commandChanged);
  $('#m-inputs').addEventListener('input', () => { if (state.rerun) state.rerun(); });
  $('#m-inputs').addEventListener('change', () => { if (state.rerun) state.rerun(); });
  for (const r of document.querySelectorAll('input[name=input]')) r.addEventListener('change', () => { halt(); inputKindChanged(); });
  $('#m-source-start').addEventListener('click', sourceStart);
  $('#m-vo-start').addEventListener('click', () => videoOut('POST'));
  $('#m-vo-stop').addEventListener('click', () => videoOut('DELETE'));
  $('#m-source-stop').addEventListener('click', sourceStop);
  $('#bridge-url').textContent = bridge.url;

  refresh().then(() => { if (params.get('model')) select(params.get('model')); });
  setInterval(refresh, 2000);
  requestAnimationFrame(draw);
})();
