// Live style transfer through runway-bridge over HTTP (the Runway POST /query protocol).
//
// 1. Start the bridge with the style transfer model:
//      runway-bridge serve --model style_transfer
// 2. Install "Video Library for Processing 4" (Sketch > Import Library > Manage Libraries), press Run.
//    Left: your camera. Right: the stylized frame, as fast as the model answers.
//    Keys 0-9 pick a style (style_0 ... style_9); the title shows round trips per second.
//
// One request is in flight at a time, on a thread of its own, so drawing never waits.
// Request:  POST http://127.0.0.1:8000/v1/models/style_transfer/query
//           Content-Type: application/json
//           {"image": "data:image/jpeg;base64,...", "style": "style_3"}
// Answer:   {"image": "data:image/jpeg;base64,..."}         (HTTP 200)
//           {"error": "..."}                                (HTTP 4xx/5xx; printed below the images)
// POST /query (no /v1/models/<id>) goes to the bridge's default model: the first --model.

import processing.video.*;
import java.net.HttpURLConnection;
import java.net.URL;
import java.io.*;
import java.util.Base64;
import java.awt.image.BufferedImage;
import javax.imageio.ImageIO;

final String QUERY_URL = "http://127.0.0.1:8000/v1/models/style_transfer/query";
final int SEND_WIDTH = 320, SEND_HEIGHT = 240;  // smaller frames: faster model, smaller requests

Capture cam;
PImage styled;                 // the latest answer
volatile boolean busy = false; // one request in flight
String style = "style_0";
String status = "";
int answers = 0, lastCount = 0, lastSecond = 0;
float rate = 0;
long latencyMs = 0;

void setup() {
  size(640, 260);
  cam = new Capture(this, 640, 480);
  cam.start();
}

void captureEvent(Capture c) {
  c.read();
}

void draw() {
  background(0);
  image(cam, 0, 0, 320, 240);
  PImage s = styled;
  if (s != null) image(s, 320, 0, 320, 240);
  if (!busy && cam.width > 0) {
    busy = true;
    PImage frame = cam.get();
    frame.resize(SEND_WIDTH, SEND_HEIGHT);
    final PImage toSend = frame;
    new Thread(new Runnable() { public void run() { query(toSend); } }).start();
  }
  if (millis() - lastSecond >= 1000) {
    rate = (answers - lastCount) * 1000.0 / (millis() - lastSecond);
    lastCount = answers;
    lastSecond = millis();
  }
  fill(255);
  textSize(12);
  text(style + "   " + nf(rate, 0, 1) + " fps   " + latencyMs + " ms   " + status, 6, 255);
}

void keyPressed() {
  if (key >= '0' && key <= '9') style = "style_" + key;
}

// PImage -> JPEG bytes -> "data:image/jpeg;base64,..."
String toDataUri(PImage img) throws IOException {
  img.loadPixels();
  BufferedImage bi = new BufferedImage(img.width, img.height, BufferedImage.TYPE_INT_RGB);
  bi.setRGB(0, 0, img.width, img.height, img.pixels, 0, img.width);
  ByteArrayOutputStream jpeg = new ByteArrayOutputStream();
  ImageIO.write(bi, "jpg", jpeg);
  return "data:image/jpeg;base64," + Base64.getEncoder().encodeToString(jpeg.toByteArray());
}

// "data:image/jpeg;base64,..." -> PImage
PImage fromDataUri(String uri) throws IOException {
  byte[] bytes = Base64.getDecoder().decode(uri.substring(uri.indexOf(',') + 1));
  BufferedImage bi = ImageIO.read(new ByteArrayInputStream(bytes));
  return new PImage(bi);
}

void query(PImage frame) {
  long t0 = millis();
  try {
    JSONObject body = new JSONObject();
    body.setString("image", toDataUri(frame));
    body.setString("style", style);
    byte[] out = body.format(-1).getBytes("UTF-8");  // one line; toString() would indent it

    HttpURLConnection conn = (HttpURLConnection) new URL(QUERY_URL).openConnection();
    conn.setRequestMethod("POST");
    conn.setDoOutput(true);
    conn.setConnectTimeout(2000);
    conn.setReadTimeout(20000);
    conn.setRequestProperty("Content-Type", "application/json");
    conn.setFixedLengthStreamingMode(out.length);
    OutputStream os = conn.getOutputStream();
    os.write(out);
    os.close();

    int code = conn.getResponseCode();
    InputStream in = code < 400 ? conn.getInputStream() : conn.getErrorStream();
    String text = new String(in.readAllBytes(), "UTF-8");
    in.close();
    JSONObject answer = parseJSONObject(text);
    if (code == 200 && answer != null && answer.hasKey("image")) {
      styled = fromDataUri(answer.getString("image"));
      answers++;
      latencyMs = millis() - t0;
      status = "";
    } else {
      status = "HTTP " + code + ": " + (answer != null && answer.hasKey("error") ? answer.getString("error") : text);
      println(status);
      delay(1000);  // e.g. the model is still loading: try again in a second
    }
  } catch (IOException e) {
    status = "cannot reach the bridge at " + QUERY_URL + " (" + e.getMessage() + "); is runway-bridge serve running?";
    println(status);
    delay(1000);
  } finally {
    busy = false;
  }
}
