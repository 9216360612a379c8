// Result shaping of runway-bridge.js, without a browser: node tests/browser/shape_check.cjs prints JSON.
const { RunwayBridge } = require('../../runway_bridge/web/client/runway-bridge.js');
const shape = RunwayBridge.shapeResults;
const lm = { name: 'landmarks', type: 'array',
  itemType: { type: 'image_landmarks', length: 2, labels: ['nose', 'chin'], connections: [['nose', 'chin']] } };
const out = {};
const pose = shape({ landmarks: [[[0.5, 0.25], [0.5, 0.75]]], visibility: [[0.9, 0.2]], detected: true },
  [lm, { name: 'visibility', type: 'array', itemType: { type: 'vector', length: 2 } }, { name: 'detected', type: 'boolean' }],
  [640, 480]);
out.pose = { item: pose[0], detected: pose.detected, raw: pose.raw };
const flipped = shape({ landmarks: [[[0.25, 0.5], [0.75, 0.5]]] }, [lm], [100, 100], { flipped: true });
out.flipped = flipped[0].keypoints.map((k) => k.x);
const faces = shape({ boxes: [[0.1, 0.2, 0.3, 0.6], [0.5, 0.5, 0.6, 0.7]], scores: [0.9, 0.4], texts: ['a', 'b'], count: 2 },
  [{ name: 'boxes', type: 'array', itemType: { type: 'image_bounding_box' } },
   { name: 'scores', type: 'array', itemType: { type: 'number' } },
   { name: 'texts', type: 'array', itemType: { type: 'text' } }, { name: 'count', type: 'number' }], [200, 100]);
out.boxes = { items: faces.slice(), count: faces.count };
out.empty = shape({ image: 'data:...' }, [{ name: 'image', type: 'image' }], [1, 1]).length;
out.connections = RunwayBridge.connectionsOf([lm]);
process.stdout.write(JSON.stringify(out));
