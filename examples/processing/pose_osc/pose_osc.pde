// Body pose from runway-bridge over OSC, drawn on the camera image.
//
// 1. Start the bridge with the pose model reading the camera itself (nothing to send from here):
//      runway-bridge serve --model pose --source pose=0
// 2. Install the libraries "oscP5" and "Video Library for Processing 4" (Sketch > Import Library > Manage
//    Libraries), then press Run. The skeleton follows you; the title bar shows results per second.
//
// Messages (Runway OSC protocol; see docs/clients-processing.md):
//   sent      /server/connect i:57200     to 127.0.0.1:57100  (results then come to our port 57200)
//             /server/disconnect i:57200  when the sketch closes
//   received  /pose/landmarks/0  f x 66   the 33 points of the first person: x0 y0 x1 y1 ... (0..1, top left)
//             /pose/landmarks/0/nose f f  one message per named point (left_wrist, right_ankle, ...)
//             /pose/visibility/0 f x 33   how visible each point is (0..1)
//             /data s                     the whole result as JSON: {"landmarks": ..., "detected": true, ...}
//             /error s                    {"error": "...", "status": 400} when something went wrong
//
// SHOW_CAMERA: the bridge already reads camera 0. macOS and Linux let two programs read one camera;
// on Windows the camera is often exclusive: set SHOW_CAMERA to false (or give the bridge a video
// file: --source pose=dance.mp4) and the skeleton is drawn on black.

import oscP5.*;
import netP5.*;
import processing.video.*;

final String BRIDGE_HOST = "127.0.0.1";
final int BRIDGE_PORT = 57100;   // the bridge's OSC port (--osc-port)
final int LISTEN_PORT = 57200;   // where the bridge sends results (its --osc-reply-port default)
final boolean SHOW_CAMERA = true;

// The skeleton: pairs of point indices (MediaPipe BlazePose numbering, 33 points).
final int[][] BONES = {
  {11, 12}, {11, 13}, {13, 15}, {12, 14}, {14, 16},            // shoulders, arms
  {11, 23}, {12, 24}, {23, 24},                                // torso
  {23, 25}, {25, 27}, {27, 29}, {29, 31}, {27, 31},            // left leg
  {24, 26}, {26, 28}, {28, 30}, {30, 32}, {28, 32},            // right leg
  {15, 17}, {15, 19}, {15, 21}, {17, 19}, {16, 18}, {16, 20}, {16, 22}, {18, 20},  // hands
  {0, 1}, {1, 2}, {2, 3}, {3, 7}, {0, 4}, {4, 5}, {5, 6}, {6, 8}, {9, 10}           // face
};

OscP5 osc;
NetAddress bridge;
Capture cam;

float[] points = new float[0];      // x0 y0 x1 y1 ... of the latest pose, 0..1
float[] visibility = new float[33];
float noseX = -1, noseY = -1;       // from the named message /pose/landmarks/0/nose
boolean detected = false;
String lastError = "";
int results = 0, lastCount = 0, lastSecond = 0;
float rate = 0;

void setup() {
  size(640, 480);
  OscProperties props = new OscProperties();
  props.setListeningPort(LISTEN_PORT);
  props.setDatagramSize(65507);  // oscP5 reads only 1,536 bytes per datagram by default
  osc = new OscP5(this, props);
  bridge = new NetAddress(BRIDGE_HOST, BRIDGE_PORT);

  OscMessage connect = new OscMessage("/server/connect");
  connect.add(LISTEN_PORT);
  osc.send(connect, bridge);

  if (SHOW_CAMERA) {
    cam = new Capture(this, 640, 480);
    cam.start();
  }
}

void captureEvent(Capture c) {
  c.read();
}

void draw() {
  background(0);
  if (cam != null) image(cam, 0, 0, width, height);

  float[] p = points;  // the OSC thread replaces the array, never changes it: safe to read
  if (detected && p.length == 66) {
    stroke(0, 255, 128);
    strokeWeight(4);
    for (int[] b : BONES) {
      if (visibility[b[0]] < 0.3 || visibility[b[1]] < 0.3) continue;
      line(p[2 * b[0]] * width, p[2 * b[0] + 1] * height, p[2 * b[1]] * width, p[2 * b[1] + 1] * height);
    }
    noStroke();
    fill(255, 60, 60);
    for (int i = 0; i < 33; i++) {
      if (visibility[i] >= 0.3) circle(p[2 * i] * width, p[2 * i + 1] * height, 8);
    }
    if (noseX >= 0) {
      fill(255, 220, 0);
      circle(noseX * width, noseY * height, 16);
    }
  }

  if (millis() - lastSecond >= 1000) {
    rate = (results - lastCount) * 1000.0 / (millis() - lastSecond);
    lastCount = results;
    lastSecond = millis();
  }
  fill(255);
  textSize(14);
  text(nf(rate, 0, 1) + " results/s" + (detected ? "" : "  (nobody in view)"), 10, 20);
  if (lastError.length() > 0) text(lastError, 10, height - 10);
}

// Every OSC message from the bridge arrives here, on oscP5's own thread.
void oscEvent(OscMessage m) {
  String a = m.addrPattern();
  if (a.equals("/pose/landmarks/0") && m.typetag().length() == 66) {
    float[] p = new float[66];
    for (int i = 0; i < 66; i++) p[i] = m.get(i).floatValue();
    points = p;
    results++;
  } else if (a.equals("/pose/visibility/0") && m.typetag().length() == 33) {
    for (int i = 0; i < 33; i++) visibility[i] = m.get(i).floatValue();
  } else if (a.equals("/pose/landmarks/0/nose")) {
    noseX = m.get(0).floatValue();
    noseY = m.get(1).floatValue();
  } else if (a.equals("/data")) {
    // The same result as JSON. Big arrays may be left out of it (a note string takes their
    // place) so the datagram stays small: the numbers above are the reliable way to get them.
    JSONObject data = parseJSONObject(m.get(0).stringValue());
    if (data != null && data.hasKey("detected")) {
      detected = data.getBoolean("detected");
      if (!detected) points = new float[0];
    }
  } else if (a.equals("/error")) {
    JSONObject err = parseJSONObject(m.get(0).stringValue());
    lastError = err != null ? err.getString("error") : m.get(0).stringValue();
    println("bridge error: " + lastError);
  }
}

void exit() {
  OscMessage bye = new OscMessage("/server/disconnect");
  bye.add(LISTEN_PORT);
  osc.send(bye, bridge);
  super.exit();
}
