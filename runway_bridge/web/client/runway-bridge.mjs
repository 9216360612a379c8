// runway-bridge.mjs: the ES module form of runway-bridge.js (the same code; this file only re-exports it).
//   import { RunwayBridge } from 'http://127.0.0.1:8000/client/runway-bridge.mjs';
//   import RunwayBridge from 'http://127.0.0.1:8000/client/runway-bridge.mjs';
// runway-bridge.js defines the global `RunwayBridge` when it runs; importing it for that effect keeps
// one copy of the code for both the classic <script> and the module forms.
globalThis.__runwayBridgeModuleUrl = import.meta.url;  // so the default bridge is the daemon that served this
await import('./runway-bridge.js');

export const RunwayBridge = globalThis.RunwayBridge;
export const Model = RunwayBridge.Model;
export const shapeResults = RunwayBridge.shapeResults;
export default RunwayBridge;
