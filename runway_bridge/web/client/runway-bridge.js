/*! runway-bridge.js: the browser client of a runway_bridge daemon. MIT licence. No dependencies.
 *
 * Two ways to load it (both are the same code):
 *   classic script: <script src="http://127.0.0.1:8000/client/runway-bridge.js"></script>
 *                   then use the global `RunwayBridge`
 *   ES module:      import { RunwayBridge } from 'http://127.0.0.1:8000/client/runway-bridge.mjs';
 *
 *   const bridge = new RunwayBridge('http://127.0.0.1:8000', { token });   // token only if the daemon asks
 *   const models = await bridge.models();                 // the catalogue, with each model's status
 *   const faces = await bridge.model('face_mesh', { start: true, options: { max_faces: 2 } });
 *   const out = await faces.query({ image: videoOrCanvasOrImg });   // one HTTP call: the raw outputs
 *   faces.detectStart(video, (results) => { ... });       // ml5-style loop over the WebSocket fast path
 *   faces.detectStop();
 *
 * detectStart keeps ONE frame in flight: it sends the next frame (a JPEG, downscaled to `maxSide`)
 * when the previous result has arrived, so latency never grows, however slow the model.
 * `results` is an array like ml5's: for landmark models one entry per face/person/hand with
 * `keypoints: [{x, y, confidence, name}]` in the video's pixels, named shortcuts (`pose.nose`) and a
 * `box: {x, y, width, height}`; for box models one entry per box. The array also carries
 * `raw` (the model's outputs as sent, coordinates 0..1), `image`/`images` (ImageBitmaps of image
 * outputs), `mask`, `imageUrl` (an <img>-ready object URL), `fps`, `latency` (ms), `dropped`, `timings`.
 * docs/clients.md has the whole API.
 */
(function (root, factory) {
  'use strict';
  var api = factory();
  if (typeof module === 'object' && module && module.exports) module.exports = api;
  root.RunwayBridge = api.RunwayBridge;
  root.RunwayBridgeModel = api.Model;
})(typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var VERSION = '0.1.0';
  var DEFAULT_URL = 'http://127.0.0.1:8000';
  var IMAGE_TYPES = { image: 1, segmentation: 1 };
  var MIME = { jpeg: 'image/jpeg', png: 'image/png' };

  // -- small helpers ---------------------------------------------------------------------------

  // The daemon that served this file is the default bridge (works from any page, p5 web editor included).
  // A token in the script's own URL (runway-bridge.js?token=...) is the default token too.
  var SCRIPT_URL = (function () {
    try {
      var src = (typeof document !== 'undefined' && document.currentScript && document.currentScript.src) ||
        (typeof globalThis !== 'undefined' && globalThis.__runwayBridgeModuleUrl) || '';
      return /^https?:/.test(src) ? new URL(src) : null;
    } catch (e) { return null; }
  })();
  var SCRIPT_ORIGIN = SCRIPT_URL && SCRIPT_URL.origin;
  var SCRIPT_TOKEN = SCRIPT_URL && SCRIPT_URL.searchParams.get('token');

  function defaultBase() {
    if (SCRIPT_ORIGIN) return SCRIPT_ORIGIN;
    if (typeof location !== 'undefined' && /^https?:$/.test(location.protocol)) return location.origin;
    return DEFAULT_URL;
  }

  function now() {
    return typeof performance !== 'undefined' ? performance.now() : Date.now();
  }

  /** The DOM element behind a p5.js element (p5 `createCapture`, `createImg`, `createGraphics`) or itself. */
  function element(src) {
    if (!src) return src;
    if (src.elt) return src.elt;                    // p5.Element, p5.MediaElement
    if (src.canvas && src.canvas.getContext) return src.canvas;  // p5.Graphics / p5.Image
    return src;
  }

  /** Natural pixel size of an image source, [width, height] (0 while a video has no frame yet). */
  function naturalSize(el) {
    if (typeof HTMLVideoElement !== 'undefined' && el instanceof HTMLVideoElement) return [el.videoWidth, el.videoHeight];
    if (typeof HTMLImageElement !== 'undefined' && el instanceof HTMLImageElement) return [el.naturalWidth, el.naturalHeight];
    if (typeof VideoFrame !== 'undefined' && el instanceof VideoFrame) return [el.displayWidth, el.displayHeight];
    return [el.width || 0, el.height || 0];
  }

  /** The size results are scaled to: a p5 element's size (what it is drawn at), else its natural size. */
  function displaySize(src) {
    var el = element(src);
    var n = naturalSize(el);
    if (src && src.elt && src.width > 0 && src.height > 0) return [src.width, src.height];
    return n;
  }

  function isBlob(v) { return typeof Blob !== 'undefined' && v instanceof Blob; }

  function isImageSource(v) {
    if (!v || typeof v !== 'object') return false;
    if (isBlob(v)) return true;
    var el = element(v);
    return (typeof HTMLElement !== 'undefined' && el instanceof HTMLElement && 'width' in el) ||
      (typeof ImageBitmap !== 'undefined' && el instanceof ImageBitmap) ||
      (typeof OffscreenCanvas !== 'undefined' && el instanceof OffscreenCanvas) ||
      (typeof ImageData !== 'undefined' && el instanceof ImageData) ||
      (typeof VideoFrame !== 'undefined' && el instanceof VideoFrame);
  }

  function sourceReady(src) {
    var el = element(src);
    if (isBlob(el)) return true;
    if (typeof HTMLVideoElement !== 'undefined' && el instanceof HTMLVideoElement) return el.readyState >= 2 && el.videoWidth > 0;
    if (typeof HTMLImageElement !== 'undefined' && el instanceof HTMLImageElement) return el.complete && el.naturalWidth > 0;
    var s = naturalSize(el);
    return s[0] > 0 && s[1] > 0;
  }

  var _canvas = null;
  function scratchCanvas(w, h) {
    if (!_canvas) {
      _canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(w, h) : document.createElement('canvas');
    }
    if (_canvas.width !== w) _canvas.width = w;
    if (_canvas.height !== h) _canvas.height = h;
    return _canvas;
  }

  /**
   * Any image source to a compressed Blob: a JPEG (default) or PNG, downscaled so its longest side is at
   * most `maxSide`. A Blob that already is a JPEG or PNG passes through untouched.
   */
  function encodeImage(src, opts) {
    opts = opts || {};
    var el = element(src);
    if (isBlob(el) && /^image\/(jpeg|png)$/.test(el.type)) return Promise.resolve(el);
    var size = naturalSize(el);
    if (!(size[0] > 0 && size[1] > 0)) return Promise.reject(new Error('the image source has no pixels yet'));
    var maxSide = opts.maxSide || 640;
    var k = Math.min(1, maxSide / Math.max(size[0], size[1]));
    var w = Math.max(1, Math.round(size[0] * k)), h = Math.max(1, Math.round(size[1] * k));
    var canvas = scratchCanvas(w, h);
    var ctx = canvas.getContext('2d');
    if (typeof ImageData !== 'undefined' && el instanceof ImageData) {
      ctx.putImageData(el, 0, 0);  // ImageData is not scaled
    } else {
      ctx.drawImage(el, 0, 0, w, h);
    }
    var type = opts.format === 'png' ? 'image/png' : 'image/jpeg';
    var quality = opts.quality == null ? 0.8 : opts.quality;
    if (canvas.convertToBlob) return canvas.convertToBlob({ type: type, quality: quality });
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (b) { b ? resolve(b) : reject(new Error('canvas.toBlob failed')); }, type, quality);
    });
  }

  function blobToDataURI(blob) {
    return new Promise(function (resolve, reject) {
      var r = new FileReader();
      r.onload = function () { resolve(r.result); };
      r.onerror = function () { reject(r.error); };
      r.readAsDataURL(blob);
    });
  }

  /** A binary fast-path frame: uint32 BE header length | JSON header | payloads (docs/protocol.md). */
  function frameMessage(header, parts) {
    header.binary = parts.map(function (p) { return { name: p.name, format: p.format, size: p.blob.size }; });
    var head = new TextEncoder().encode(JSON.stringify(header));
    var len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, head.length, false);
    return new Blob([len, head].concat(parts.map(function (p) { return p.blob; })));
  }

  /** One binary result message to {header, blobs: {name: Blob}}. */
  function parseFrame(buf) {
    var view = new DataView(buf);
    var n = view.getUint32(0, false);
    var header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, n)));
    var offset = 4 + n, blobs = {};
    (header.binary || []).forEach(function (p) {
      var bytes = new Uint8Array(buf, offset, p.size);
      offset += p.size;
      blobs[p.name] = p.format === 'raw' ? { format: 'raw', shape: p.shape, data: bytes } :
        new Blob([bytes], { type: MIME[p.format] || 'application/octet-stream' });
    });
    return { header: header, blobs: blobs };
  }

  function singular(name) {
    if (name === 'boxes') return 'box';
    if (name === 'landmarks') return 'keypoints';
    if (/ies$/.test(name)) return name.slice(0, -3) + 'y';
    if (/(ss|us)$/.test(name)) return name;
    return name.replace(/s$/, '');
  }

  function itemTypeOf(field) {
    return field && field.type === 'array' ? field.itemType || {} : null;
  }

  function scaledBox(b, W, H, flip) {
    var x0 = b[0] * W, x1 = b[2] * W;
    if (flip) { var t = W - x1; x1 = W - x0; x0 = t; }
    var y0 = b[1] * H, y1 = b[3] * H;
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, xMin: x0, yMin: y0, xMax: x1, yMax: y1 };
  }

  function boxAround(kps) {
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    kps.forEach(function (k) {
      if (k.x < x0) x0 = k.x; if (k.x > x1) x1 = k.x;
      if (k.y < y0) y0 = k.y; if (k.y > y1) y1 = k.y;
    });
    if (!kps.length) return null;
    return { x: x0, y: y0, width: x1 - x0, height: y1 - y0, xMin: x0, yMin: y0, xMax: x1, yMax: y1 };
  }

  function hide(obj, name, value) {
    Object.defineProperty(obj, name, { value: value, enumerable: false, writable: true, configurable: true });
  }

  /**
   * Outputs of one command to an ml5-style results array (see the header comment). `schema` is the
   * command's `outputs` list from the manifest; `size` is [width, height] to scale 0..1 geometry to.
   */
  function shapeResults(outputs, schema, size, opts) {
    opts = opts || {};
    var W = size[0] || 1, H = size[1] || 1, flip = !!opts.flipped;
    var fields = {};
    (schema || []).forEach(function (f) { fields[f.name] = f; });
    var names = Object.keys(outputs || {});
    var kindOf = function (name) {
      var f = fields[name];
      if (!f) return null;
      var it = itemTypeOf(f);
      return it ? 'array:' + it.type : f.type;
    };
    // The output that makes one entry per thing: landmarks first, then boxes, then points.
    var primary = null;
    ['array:image_landmarks', 'array:image_bounding_box', 'array:image_point'].some(function (k) {
      primary = names.filter(function (n) { return kindOf(n) === k; })[0] || null;
      return primary;
    });
    var results = [];
    if (primary) {
      var kind = kindOf(primary), list = outputs[primary] || [];
      var it = itemTypeOf(fields[primary]);
      var labels = it.labels || [];
      var count = list.length;
      list.forEach(function (value) {
        var item = {};
        if (kind === 'array:image_landmarks') {
          item.keypoints = value.map(function (p, i) {
            var kp = { x: (flip ? 1 - p[0] : p[0]) * W, y: p[1] * H, confidence: 1, name: labels[i] || String(i) };
            return kp;
          });
        } else if (kind === 'array:image_bounding_box') {
          var b = scaledBox(value, W, H, flip);
          item.box = b;
          item.x = b.x; item.y = b.y; item.width = b.width; item.height = b.height;
          item.confidence = 1;
        } else {
          item.x = (flip ? 1 - value[0] : value[0]) * W; item.y = value[1] * H;
        }
        results.push(item);
      });
      // Outputs with one value per entry join their entry.
      names.forEach(function (name) {
        if (name === primary) return;
        var v = outputs[name], k = kindOf(name);
        if (!Array.isArray(v) || v.length !== count || !k || k.indexOf('array:') !== 0) return;
        var sub = k.slice(6), key = singular(name);
        v.forEach(function (x, i) {
          var item = results[i];
          if (sub === 'image_bounding_box') {
            var b = scaledBox(x, W, H, flip);
            if (!item.box) item.box = b; else item[key] = b;
          } else if (sub === 'image_landmarks') {
            var l = itemTypeOf(fields[name]).labels || [];
            var pts = x.map(function (p, j) {
              return { x: (flip ? 1 - p[0] : p[0]) * W, y: p[1] * H, confidence: 1, name: l[j] || String(j) };
            });
            if (!item.keypoints) item.keypoints = pts; else item[key] = pts;
          } else if (sub === 'vector' && item.keypoints && Array.isArray(x) && x.length === item.keypoints.length) {
            x.forEach(function (c, j) { item.keypoints[j].confidence = c; });
            item[key] = x;
          } else {
            item[key] = x;
            if (sub === 'number' && /score|conf|prob/.test(name)) item.confidence = x;
          }
        });
      });
      results.forEach(function (item) {
        if (item.keypoints) {
          if (!item.box) item.box = boxAround(item.keypoints);
          item.keypoints.forEach(function (kp) {
            if (!(kp.name in item)) item[kp.name] = kp;
          });
        }
      });
    }
    hide(results, 'raw', outputs);
    hide(results, 'outputs', outputs);
    // Scalars and other outputs also hang on the array itself (results.count, results.detected, ...).
    names.forEach(function (name) {
      if (name === primary || name in results) return;
      if (!IMAGE_TYPES[(fields[name] || {}).type]) hide(results, name, outputs[name]);
    });
    return results;
  }

  /** Index pairs [[i, j], ...] of an output's connections (label pairs in the manifest). */
  function connectionsOf(schema) {
    var out = [];
    (schema || []).some(function (f) {
      var it = itemTypeOf(f) || f;
      if (it.type !== 'image_landmarks' || !it.connections) return false;
      var idx = {};
      (it.labels || []).forEach(function (l, i) { idx[l] = i; });
      it.connections.forEach(function (c) {
        var a = typeof c[0] === 'number' ? c[0] : idx[c[0]], b = typeof c[1] === 'number' ? c[1] : idx[c[1]];
        if (a != null && b != null) out.push([a, b]);
      });
      return true;
    });
    return out;
  }

  function HttpError(status, message, body) {
    var e = new Error(message);
    e.name = 'RunwayBridgeError';
    e.status = status;
    e.body = body;
    return e;
  }

  // -- the bridge: one daemon ------------------------------------------------------------------

  /**
   * @param {string} [url] the daemon, e.g. 'http://127.0.0.1:8000'; default: the daemon this file was
   *   loaded from, else the page's origin, else http://127.0.0.1:8000
   * @param {object} [opts] {token}: sent as a Bearer header (HTTP) and ?token= (WebSocket); default: the
   *   token in this script's URL (runway-bridge.js?token=...) when no url is given
   */
  function RunwayBridge(url, opts) {
    if (!(this instanceof RunwayBridge)) return new RunwayBridge(url, opts);
    if (url && typeof url === 'object') { opts = url; url = null; }
    opts = opts || {};
    this.url = String(url || defaultBase()).replace(/\/+$/, '');
    this.token = opts.token || (url ? null : SCRIPT_TOKEN) || null;
    this._models = {};
  }

  RunwayBridge.VERSION = VERSION;

  RunwayBridge.prototype.http = function (method, path, body, headers) {
    var h = Object.assign({}, headers || {});
    if (this.token) h.Authorization = 'Bearer ' + this.token;
    var init = { method: method, headers: h };
    if (body !== undefined) {
      if (isBlob(body)) {
        init.body = body;
        if (!h['Content-Type']) h['Content-Type'] = body.type || 'application/octet-stream';
      } else {
        init.body = JSON.stringify(body);
        h['Content-Type'] = 'application/json';
      }
    }
    var url = this.url + path;
    return fetch(url, init).then(function (r) {
      return r.text().then(function (text) {
        var data;
        try { data = text ? JSON.parse(text) : {}; } catch (e) { data = { error: text }; }
        if (!r.ok) throw HttpError(r.status, (data && data.error) || r.status + ' ' + r.statusText, data);
        return data;
      });
    }, function (e) {
      throw HttpError(0, 'cannot reach the bridge at ' + url.split('/v1')[0] +
        ' (is `runway-bridge serve` running?): ' + e.message);
    });
  };

  /** WebSocket URL of a path on the daemon (http -> ws, https -> wss), with the token when one is set. */
  RunwayBridge.prototype.wsUrl = function (path, query) {
    var q = Object.assign({}, query || {});
    if (this.token) q.token = this.token;
    var qs = Object.keys(q).filter(function (k) { return q[k] != null; })
      .map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(q[k]); }).join('&');
    return this.url.replace(/^http/, 'ws') + path + (qs ? '?' + qs : '');
  };

  /** The catalogue: [{id, name, category, description, license, commercial_use, publisher, speed, status}]. */
  RunwayBridge.prototype.models = function () {
    return this.http('GET', '/v1/models').then(function (d) { return d.models; });
  };

  /** One model's card, manifest (options, commands) and status. */
  RunwayBridge.prototype.info = function (id) {
    return this.http('GET', '/v1/models/' + encodeURIComponent(id));
  };

  /** Start (or restart with new options); resolves once it runs unless {wait: false}. */
  RunwayBridge.prototype.start = function (id, options, opts) {
    var wait = !opts || opts.wait !== false;
    return this.http('POST', '/v1/models/' + encodeURIComponent(id) + '/start' + (wait ? '?wait=1' : ''),
      { options: options || {} }).then(function (s) {
      if (s.state === 'FAILED') throw HttpError(500, id + ' failed to start: ' + s.error, s);
      return s;
    });
  };

  RunwayBridge.prototype.stop = function (id) {
    return this.http('POST', '/v1/models/' + encodeURIComponent(id) + '/stop');
  };

  /**
   * A `Model` handle. opts: {start: true} starts it when it is not running (or when `options` are
   * given), {options}, {command} (default: the model's default command).
   */
  RunwayBridge.prototype.model = function (id, opts) {
    opts = opts || {};
    var self = this;
    return this.info(id).then(function (info) {
      var running = info.status && info.status.state === 'RUNNING';
      if (opts.start && (!running || opts.options)) {
        return self.start(id, opts.options).then(function () { return self.info(id); });
      }
      return info;
    }).then(function (info) {
      return new Model(self, info, opts);
    });
  };

  // -- a model ---------------------------------------------------------------------------------

  function Model(bridge, info, opts) {
    opts = opts || {};
    this.bridge = bridge;
    this.id = info.id;
    this.info = info;
    this.card = info.card || {};
    this.manifest = info.manifest || { options: [], commands: [] };
    this.status = info.status;
    this.command = opts.command || this.card.default_command || (this.manifest.commands[0] || {}).name;
    this.fps = 0;
    this.latency = 0;
    this.dropped = 0;
    this._ws = null;
    this._wsOpen = null;
    this._frame = 0;
    this._waiting = {};      // frame id -> {resolve, reject, t0, size, command}
    this._busy = false;      // one frame in flight
    this._next = null;       // the latest frame waiting for the one in flight (older ones are dropped)
    this._times = [];
    this._loop = null;
    this._urls = [];
    this._listeners = [];
  }

  Model.prototype.commandSchema = function (command) {
    var name = command || this.command;
    var c = this.manifest.commands.filter(function (c) { return c.name === name; })[0];
    if (!c) throw new Error(this.id + ' has no command ' + name);
    return c;
  };

  /** Landmark connections as index pairs, for drawing a skeleton or a mesh: [[i, j], ...]. */
  Model.prototype.getConnections = function (command) {
    return connectionsOf(this.commandSchema(command).outputs);
  };
  Model.prototype.getSkeleton = Model.prototype.getConnections;

  Model.prototype.start = function (options) {
    var self = this;
    return this.bridge.start(this.id, options).then(function (s) { self.status = s; return s; });
  };
  Model.prototype.stop = function () {
    this.detectStop();
    this.close();
    return this.bridge.stop(this.id);
  };

  /** Endpoints of this model, ready to paste into other tools. */
  Model.prototype.endpoints = function () {
    var base = this.bridge.url + '/v1/models/' + this.id;
    return {
      websocket: this.bridge.wsUrl('/v1/models/' + this.id + '/stream'),
      query: base + '/query', data: base + '/data', error: base + '/error', info: base + '/info',
      command: base + '/commands/' + this.command,
    };
  };

  Model.prototype._jsonInputs = function (inputs, command) {
    var schema = this.commandSchema(command);
    var types = {};
    schema.inputs.forEach(function (f) { types[f.name] = f; });
    var out = {}, jobs = [];
    Object.keys(inputs || {}).forEach(function (k) {
      var v = inputs[k];
      if (isImageSource(v)) {
        var png = types[k] && types[k].channels === 4;
        jobs.push(encodeImage(v, { maxSide: 4096, format: png ? 'png' : 'jpeg', quality: 0.92 })
          .then(blobToDataURI).then(function (uri) { out[k] = uri; }));
      } else {
        out[k] = v;
      }
    });
    return Promise.all(jobs).then(function () { return out; });
  };

  /**
   * One call over HTTP. Images may be given as <video>, <canvas>, <img>, p5 elements, ImageBitmaps or
   * Blobs. Resolves to the model's outputs as JSON (images as data URIs: set them as an <img>'s src).
   */
  Model.prototype.query = function (inputs, opts) {
    var command = (opts && opts.command) || this.command, self = this;
    return this._jsonInputs(inputs, command).then(function (json) {
      return self.bridge.http('POST', '/v1/models/' + self.id + '/commands/' + encodeURIComponent(command), json);
    });
  };

  /** One call over HTTP, shaped like detectStart's results (scaled to the source's size). */
  Model.prototype.detect = function (source, inputs, opts) {
    var self = this, command = (opts && opts.command) || this.command;
    var size = (opts && opts.size) || displaySize(source);
    var all = Object.assign({}, inputs || {});
    all[this._imageInput(command)] = source;
    var t0 = now();
    return this.query(all, { command: command }).then(function (out) {
      var r = shapeResults(out, self.commandSchema(command).outputs, size, opts);
      hide(r, 'latency', now() - t0);
      return r;
    });
  };

  Model.prototype._imageInput = function (command) {
    var img = this.commandSchema(command).inputs.filter(function (f) { return f.type === 'image'; })[0];
    return img ? img.name : 'image';
  };

  // -- the WebSocket fast path ------------------------------------------------------------------

  /** Open (once) the model's stream socket; resolves when it is open. */
  Model.prototype.connect = function () {
    if (this._wsOpen) return this._wsOpen;
    var self = this;
    this._wsOpen = new Promise(function (resolve, reject) {
      var ws = new WebSocket(self.bridge.wsUrl('/v1/models/' + self.id + '/stream', { command: self.command }));
      ws.binaryType = 'arraybuffer';
      self._ws = ws;
      ws.onopen = function () { resolve(ws); };
      ws.onmessage = function (ev) { self._onMessage(ev.data); };
      ws.onerror = function () {
        reject(new Error('WebSocket to ' + self.bridge.url + ' failed (is the bridge running and ' + self.id + ' started?)'));
      };
      ws.onclose = function (ev) {
        self._ws = null;
        self._wsOpen = null;
        var err = new Error('connection to the bridge closed' + (ev.reason ? ': ' + ev.reason : ''));
        Object.keys(self._waiting).forEach(function (id) { self._waiting[id].reject(err); });
        self._waiting = {};
        self._busy = false;
        if (self._next) { self._next.reject(err); self._next = null; }
        reject(err);
      };
    });
    return this._wsOpen;
  };

  /** Close the stream socket. */
  Model.prototype.close = function () {
    if (this._ws) this._ws.close(1000);
    this._ws = null;
    this._wsOpen = null;
  };

  /** Called with every message of the stream: fn(header, blobs). For results of other clients, see listen(). */
  Model.prototype.onMessage = function (fn) { this._listeners.push(fn); };

  Model.prototype._onMessage = function (data) {
    var header, blobs = {};
    if (typeof data === 'string') {
      header = JSON.parse(data);
    } else {
      var f = parseFrame(data);
      header = f.header;
      blobs = f.blobs;
    }
    this._listeners.forEach(function (fn) { fn(header, blobs); });
    var job = this._waiting[header.frame];
    if (!job) return;
    if (header.type === 'partial') {
      if (job.onPartial) this._shape(header, blobs, job).then(job.onPartial);
      return;
    }
    delete this._waiting[header.frame];
    var t = now();
    this.latency = t - job.t0;
    this._times.push(t);
    while (this._times.length > 1 && t - this._times[0] > 2000) this._times.shift();
    if (this._times.length > 1) this.fps = (this._times.length - 1) * 1000 / (t - this._times[0]);
    if (header.dropped != null) this.dropped = header.dropped;
    var self = this;
    var done = header.type === 'error' ?
      Promise.reject(Object.assign(new Error(header.error), { name: 'RunwayBridgeError', status: header.status, frame: header.frame })) :
      this._shape(header, blobs, job);
    done.then(job.resolve, job.reject).then(function () { self._sendNext(); });
  };

  Model.prototype._shape = function (header, blobs, job) {
    var self = this;
    var schema = this.commandSchema(header.command || job.command).outputs;
    var outputs = Object.assign({}, header.outputs || {}, blobs);
    var r = shapeResults(outputs, schema, job.size, job.opts);
    var images = {}, decodes = [];
    schema.forEach(function (f) {
      var v = outputs[f.name];
      if (!IMAGE_TYPES[f.type] || v == null) return;
      var blob = isBlob(v) ? Promise.resolve(v) : typeof v === 'string' && v.indexOf('data:') === 0 ? fetch(v).then(function (x) { return x.blob(); }) : null;
      if (!blob) return;
      decodes.push(blob.then(function (b) {
        outputs[f.name] = b;
        return typeof createImageBitmap === 'function' ? createImageBitmap(b) : null;
      }).then(function (bmp) { images[f.name] = { bitmap: bmp, blob: outputs[f.name], type: f.type }; }));
    });
    return Promise.all(decodes).then(function () {
      var first = function (type) {
        var k = Object.keys(images).filter(function (n) { return images[n].type === type; })[0];
        return k ? images[k] : null;
      };
      var img = first('image'), mask = first('segmentation');
      hide(r, 'images', Object.keys(images).reduce(function (o, k) { o[k] = images[k].bitmap; return o; }, {}));
      hide(r, 'blobs', Object.keys(images).reduce(function (o, k) { o[k] = images[k].blob; return o; }, {}));
      hide(r, 'image', img ? img.bitmap : null);
      hide(r, 'mask', mask ? mask.bitmap : null);
      if (img || mask) {
        // Object URLs are made on first use and revoked a few results later, so they never pile up.
        var url = null;
        Object.defineProperty(r, 'imageUrl', {
          enumerable: false, configurable: true,
          get: function () {
            if (!url) {
              url = URL.createObjectURL((img || mask).blob);
              self._urls.push(url);
              while (self._urls.length > 4) URL.revokeObjectURL(self._urls.shift());
            }
            return url;
          },
        });
      }
      hide(r, 'fps', self.fps);
      hide(r, 'latency', self.latency);
      hide(r, 'dropped', self.dropped);
      hide(r, 'timings', header.timings || {});
      hide(r, 'frame', header.frame);
      hide(r, 'model', self.id);
      hide(r, 'command', header.command);
      if (header.progress != null) hide(r, 'progress', header.progress);
      return r;
    });
  };

  /**
   * Send one set of inputs over the WebSocket; resolves to the shaped results. Images (video, canvas,
   * img, p5 elements, Blobs) travel as binary JPEG. While a frame is in flight, a newer send waits
   * and replaces an older waiting one, which resolves to null (dropped), so nothing piles up.
   * opts: {command, maxSide (640), quality (0.8), size: [w, h] to scale to, flipped, onPartial}.
   */
  Model.prototype.send = function (inputs, opts) {
    var self = this;
    opts = opts || {};
    return new Promise(function (resolve, reject) {
      var job = { inputs: inputs, opts: opts, resolve: resolve, reject: reject, onPartial: opts.onPartial };
      if (self._busy) {
        if (self._next) self._next.resolve(null);
        self._next = job;
        return;
      }
      self._dispatch(job);
    });
  };

  Model.prototype._sendNext = function () {
    this._busy = false;
    var job = this._next;
    this._next = null;
    if (job) this._dispatch(job);
  };

  Model.prototype._dispatch = function (job) {
    var self = this, opts = job.opts;
    this._busy = true;
    job.command = opts.command || this.command;
    var types = {};
    try {
      this.commandSchema(job.command).inputs.forEach(function (f) { types[f.name] = f; });
    } catch (e) { job.reject(e); this._sendNext(); return; }
    var inputs = job.inputs || {}, json = {}, parts = [], size = opts.size || null;
    var encodes = Object.keys(inputs).map(function (k) {
      var v = inputs[k];
      if (!isImageSource(v)) { json[k] = v; return null; }
      if (!size && (!types[k] || types[k].type === 'image')) size = displaySize(v);
      var png = types[k] && types[k].channels === 4;
      return encodeImage(v, { maxSide: opts.maxSide, quality: opts.quality, format: png ? 'png' : 'jpeg' })
        .then(function (blob) { parts.push({ name: k, format: blob.type === 'image/png' ? 'png' : 'jpeg', blob: blob }); });
    });
    Promise.all(encodes).then(function () { return self.connect(); }).then(function (ws) {
      var id = ++self._frame;
      job.size = size || [1, 1];
      job.t0 = now();
      self._waiting[id] = job;
      var header = { frame: id, command: job.command, inputs: json };
      ws.send(parts.length ? frameMessage(header, parts) : JSON.stringify(header));
    }).catch(function (e) {
      job.reject(e);
      self._sendNext();
    });
  };

  /**
   * ml5-style detection loop: callback(results, error) for every frame of `source` (a <video>, p5
   * capture, <canvas> or <img>), one frame in flight. The next frame is read when the previous
   * result has arrived and the video shows a new frame.
   * opts: {command, inputs: {...} or () => ({...}) for the other inputs, maxSide (640), quality (0.8),
   * flipped (mirror x like a selfie view), size: [w, h] to scale results to}.
   */
  Model.prototype.detectStart = function (source, callback, opts) {
    if (typeof source === 'function') { opts = callback; callback = source; source = null; }
    this.detectStop();
    opts = opts || {};
    var self = this;
    var loop = { running: true, timer: null };
    this._loop = loop;
    var imageName = this._imageInput(opts.command);
    var el = element(source);
    var isVideo = typeof HTMLVideoElement !== 'undefined' && el instanceof HTMLVideoElement;

    function schedule(delay) {
      if (!loop.running) return;
      if (delay) { loop.timer = setTimeout(step, delay); return; }
      if (isVideo && el.requestVideoFrameCallback) {
        // a new video frame, or 100 ms at most (a paused video still gets results)
        var fired = false, go = function () { if (!fired) { fired = true; clearTimeout(loop.timer); step(); } };
        el.requestVideoFrameCallback(go);
        loop.timer = setTimeout(go, 100);
      } else if (typeof requestAnimationFrame !== 'undefined') {
        requestAnimationFrame(step);
      } else {
        loop.timer = setTimeout(step, 16);
      }
    }

    function step() {
      if (!loop.running) return;
      if (source && !sourceReady(source)) { schedule(50); return; }
      var extra = typeof opts.inputs === 'function' ? opts.inputs() : opts.inputs || {};
      var inputs = Object.assign({}, extra);
      if (source) inputs[imageName] = source;
      self.send(inputs, opts).then(function (results) {
        if (!loop.running || results === null) return;
        try { callback(results); } finally { schedule(0); }
      }, function (err) {
        if (!loop.running) return;
        var empty = [];
        hide(empty, 'error', err);
        try { callback(empty, err); } finally { schedule(err.status ? 0 : 1000); }  // reconnect after 1 s
      });
    }
    schedule(0);
    return this;
  };

  Model.prototype.detectStop = function () {
    if (this._loop) {
      this._loop.running = false;
      clearTimeout(this._loop.timer);
      this._loop = null;
    }
    return this;
  };

  /**
   * Receive every result of this model, also those caused by other clients or a daemon-side source
   * (the socket's ?listen=1). callback(header, blobs); returns a function that stops listening.
   */
  Model.prototype.listen = function (callback) {
    var ws = new WebSocket(this.bridge.wsUrl('/v1/models/' + this.id + '/stream', { listen: 1 }));
    ws.binaryType = 'arraybuffer';
    ws.onmessage = function (ev) {
      if (typeof ev.data === 'string') callback(JSON.parse(ev.data), {});
      else { var f = parseFrame(ev.data); callback(f.header, f.blobs); }
    };
    return function () { ws.close(1000); };
  };

  RunwayBridge.Model = Model;
  RunwayBridge.shapeResults = shapeResults;
  RunwayBridge.connectionsOf = connectionsOf;
  RunwayBridge.encodeImage = encodeImage;
  RunwayBridge.frameMessage = frameMessage;
  RunwayBridge.parseFrame = parseFrame;

  return { RunwayBridge: RunwayBridge, Model: Model };
});
