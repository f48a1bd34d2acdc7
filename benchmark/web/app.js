// The page of `python -m benchmark.serve`: photos and webcam frames go to POST /api/predict, and the
// faces it finds are drawn over the picture, numbered as in the list beside it ("1: happy 93%" on the
// picture is "Face 1" of the list), and listed with the score of every class. A model whose scores are
// not probabilities (`calibrated` false: an SVM's) has them shown as "score 0.65", never as a percentage.
//
// Everything the server returns (labels, file names, messages) is inserted with textContent or drawn
// on a canvas, never parsed as HTML. The class colours come from /api/health, so they are defined once,
// in benchmark/inference/annotate.py.
"use strict";

const WEBCAM_PERIOD_MS = 300; // one frame to the server every ~300 ms (or slower, when it is)
const WEBCAM_SIDE = 640; // webcam frames are sent at most this many pixels wide or high
const CANVAS_SIDE = 1600; // the annotated picture (and its download) at most this large
const FALLBACK_COLOUR = "#ffffff";

const state = { colours: {}, legend: [], maxUploadBytes: Infinity, ready: Promise.resolve() };

// ---------------------------------------------------------------------------------------------
// Small helpers

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A score as shown: a probability as "93%", an uncalibrated score as "score 0.65" (as annotate.py draws it).
function scoreText(p, calibrated) {
  return calibrated ? `${Math.round(100 * p)}%` : `score ${p.toFixed(2)}`;
}

function colourOf(label) {
  return state.colours[label] || FALLBACK_COLOUR;
}

// The class -> score map of a face: "probabilities", or "scores" for an uncalibrated model.
function scoresOf(face) {
  return face.probabilities || face.scores || {};
}

function topScore(face) {
  const scores = scoresOf(face);
  return scores[face.label] ?? Math.max(...Object.values(scores));
}

// "1: happy 93%": the face's number in the list, its label and that label's score.
function faceText(face, index, calibrated) {
  return `${index + 1}: ${face.label} ${scoreText(topScore(face), calibrated)}`;
}

function describeFaces(faces, calibrated) {
  if (!faces.length) return "no face found";
  const list = faces.map((f, i) => faceText(f, i, calibrated)).join(", ");
  return `${faces.length} face${faces.length > 1 ? "s" : ""}: ${list}`;
}

// The POST itself: a FormData (field "file") or a Blob sent as the raw body, with the query `options`
// ({explain, detector}; empty ones left out). Resolves to the JSON of a 200 answer; rejects with an
// Error whose message is fit to show (the server's own message).
async function predict(body, options = {}) {
  let response;
  try {
    const init = body instanceof FormData ? { method: "POST", body }
      : { method: "POST", body, headers: { "Content-Type": body.type || "application/octet-stream" } };
    const given = Object.entries(options).filter(([, value]) => value);
    const query = given.length ? `?${new URLSearchParams(given)}` : "";
    response = await fetch(`/api/predict${query}`, init);
  } catch (err) {
    throw new Error("The server could not be reached.");
  }
  const json = await response.json().catch(() => null);
  if (!response.ok) {
    const message = json && typeof json.message === "string" ? json.message : response.statusText;
    throw new Error(`Error ${response.status}: ${message}`);
  }
  return json;
}

// ---------------------------------------------------------------------------------------------
// Drawing: boxes and labels, the same look as benchmark/inference/annotate.py

// Draws every face (box, "1: label 92%", numbered in the list's order) on `ctx`, whose picture is `scale`
// times the server's image.
function drawFaces(ctx, faces, scale, calibrated) {
  const side = Math.max(ctx.canvas.width, ctx.canvas.height);
  const lineWidth = Math.max(2, Math.round((2 * side) / 800));
  const fontSize = Math.max(14, Math.round((18 * side) / 800));
  ctx.lineWidth = lineWidth;
  ctx.font = `${fontSize}px sans-serif`;
  ctx.textBaseline = "top";
  faces.forEach((face, index) => {
    const [x, y, w, h] = face.box.map((v) => v * scale);
    const colour = colourOf(face.label);
    ctx.strokeStyle = colour;
    ctx.strokeRect(x, y, w, h);
    const text = faceText(face, index, calibrated);
    const pad = Math.round(fontSize / 4);
    const boxW = ctx.measureText(text).width + 2 * pad;
    const boxH = fontSize + 2 * pad;
    const top = y - boxH >= 0 ? y - boxH : y; // above the box, or inside it at the picture's top
    ctx.fillStyle = colour;
    ctx.fillRect(x - lineWidth / 2, top, boxW, boxH);
    ctx.fillStyle = "#000000";
    ctx.fillText(text, x - lineWidth / 2 + pad, top + pad);
  });
}

// One face's entry: "Face 1: happy 92%" and a bar per class, in the model's class order.
function faceItem(face, index, classes, calibrated) {
  const item = element("li", "face");
  item.dataset.label = face.label;
  const title = element("p", "face-title");
  const swatch = element("span", "swatch");
  swatch.style.backgroundColor = colourOf(face.label);
  title.append(swatch, `Face ${index + 1}: `, element("strong", "face-label", face.label),
    ` ${scoreText(topScore(face), calibrated)}`);
  item.append(title);
  const bars = element("div", "bars");
  const scores = scoresOf(face);
  for (const name of classes) {
    const p = scores[name] ?? 0;
    const row = element("div", "bar-row");
    const track = element("div", "bar");
    track.setAttribute("role", "meter");
    track.setAttribute("aria-label", calibrated ? name : `${name} (score)`);
    track.setAttribute("aria-valuemin", "0");
    track.setAttribute("aria-valuemax", "100");
    track.setAttribute("aria-valuenow", String(Math.round(100 * p)));
    const fill = element("div", "bar-fill");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    fill.style.backgroundColor = colourOf(name);
    track.append(fill);
    const value = calibrated ? scoreText(p, true) : p.toFixed(2);
    row.append(element("span", "bar-name", name), track, element("span", "bar-value", value));
    bars.append(row);
  }
  item.append(bars);
  return item;
}

function fillFaceList(list, result) {
  list.replaceChildren(...result.faces.map((face, i) => faceItem(face, i, result.classes, result.calibrated)));
}

// The heat map's colour scale, low to high evidence, in the colours the server paints (/api/health).
function heatLegend() {
  const legend = element("div", "heat-legend");
  const bar = element("span", "heat-legend-bar");
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", "colour scale from dark (low evidence) to bright yellow (high evidence)");
  if (state.legend.length > 1) bar.style.backgroundImage = `linear-gradient(to right, ${state.legend.join(", ")})`;
  legend.append(element("span", "heat-legend-end", "low"), bar, element("span", "heat-legend-end", "high"),
    element("span", "heat-legend-note", "evidence for the face's label (unpainted: none)"));
  return legend;
}

// ---------------------------------------------------------------------------------------------
// Photos

function baseName(name) {
  return (name.replace(/\.[^.]*$/, "").replace(/[^\w.-]+/g, "_") || "photo").slice(0, 80);
}

function downloadCanvas(canvas, fileName) {
  canvas.toBlob((blob) => {
    if (!blob) return;
    const url = URL.createObjectURL(blob);
    const link = element("a");
    link.href = url;
    link.download = `${baseName(fileName)}-faces.png`;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }, "image/png");
}

// The picture of `file` on `canvas` (at most CANVAS_SIDE), or a grey field when the browser cannot
// decode the format (TIFF, say) though the server could. Returns the scale from the server's image.
async function paintPhoto(canvas, file, imageSize) {
  let bitmap = null;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch (err) {
    bitmap = null;
  }
  const width = bitmap ? bitmap.width : imageSize.width;
  const height = bitmap ? bitmap.height : imageSize.height;
  const fit = Math.min(1, CANVAS_SIDE / Math.max(width, height));
  canvas.width = Math.max(1, Math.round(width * fit));
  canvas.height = Math.max(1, Math.round(height * fit));
  const ctx = canvas.getContext("2d");
  if (bitmap) {
    ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    bitmap.close();
  } else {
    ctx.fillStyle = "#d0d0d0";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
  }
  return { ctx, scale: canvas.width / imageSize.width, shown: Boolean(bitmap) };
}

// The server's picture of the photo with the heat map laid over it (a PNG data URL), over the canvas.
async function paintExplanation(ctx, dataUrl) {
  const picture = new Image();
  picture.src = dataUrl;
  await picture.decode();
  ctx.drawImage(picture, 0, 0, ctx.canvas.width, ctx.canvas.height);
}

async function analysePhoto(file) {
  const article = element("article", "result");
  const heading = element("h2", "result-title", file.name || "photo");
  const figure = element("figure");
  const canvas = element("canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${file.name}: being analysed`);
  const caption = element("figcaption", "note");
  figure.append(canvas, caption);
  const details = element("div", "details");
  const message = element("p", "message", "Analysing\u2026");
  message.setAttribute("role", "status");
  const faces = element("ol", "faces");
  const download = element("button", "download", "Download the annotated picture (PNG)");
  download.type = "button";
  download.disabled = true;
  const timing = element("p", "note timing");
  details.append(message, faces, download, timing);
  const body = element("div", "result-body");
  body.append(figure, details);
  article.append(heading, body);
  document.getElementById("results").prepend(article);
  await state.ready; // the colours and the size limit

  if (file.size > state.maxUploadBytes) {
    showError(article, message, `This file is ${(file.size / 2 ** 20).toFixed(1)} MB; the server accepts at most `
      + `${(state.maxUploadBytes / 2 ** 20).toFixed(1)} MB.`);
    figure.hidden = true;
    return;
  }
  const form = new FormData();
  form.append("file", file, file.name);
  const explain = document.getElementById("explain-toggle").value;
  const whole = document.getElementById("whole-image");
  const detector = whole.checked && !whole.disabled ? "none" : "";
  let result;
  try {
    result = await predict(form, { explain, detector });
  } catch (err) {
    showError(article, message, err.message);
    figure.hidden = true;
    return;
  }
  const { ctx, scale, shown } = await paintPhoto(canvas, file, result.image);
  if (result.explanation) { // the photo with the heat map over each face, drawn under the boxes
    await paintExplanation(ctx, result.explanation.image);
    caption.dataset.explanation = result.explanation.method;
  }
  drawFaces(ctx, result.faces, scale, result.calibrated);
  canvas.dataset.drawn = "true";
  canvas.setAttribute("aria-label", `${file.name}: ${describeFaces(result.faces, result.calibrated)}`);
  caption.textContent = (shown ? "" : "This browser cannot show this image format; the boxes are drawn on grey. ")
    + (result.explanation ? `Heat map (${result.explanation.method}): where the evidence for each face's label is.` : "");
  if (result.explanation) caption.append(heatLegend());
  message.textContent = result.faces.length ? describeFaces(result.faces, result.calibrated)
    : (result.message || "No face found.");
  article.classList.toggle("no-face", !result.faces.length);
  fillFaceList(faces, result);
  download.disabled = false;
  download.addEventListener("click", () => downloadCanvas(canvas, file.name));
  const t = result.timings_ms;
  timing.textContent = `${result.image.width}\u00d7${result.image.height} pixels; server ${Math.round(t.total)} ms `
    + `(decode ${Math.round(t.decode)}, faces ${Math.round(t.faces)}, classify ${Math.round(t.classify)}); `
    + `model ${result.model}${result.calibrated ? "" : " (its scores rank the classes; they are not probabilities)"}`;
}

function showError(article, message, text) {
  article.classList.add("error");
  message.setAttribute("role", "alert");
  message.textContent = text;
}

async function analysePhotos(files) {
  for (const file of files) {
    await analysePhoto(file); // one at a time: the server runs one image at a time anyway
  }
}

function setUpPhotos() {
  const input = document.getElementById("file-input");
  const zone = document.getElementById("drop-zone");
  input.addEventListener("change", () => {
    analysePhotos(Array.from(input.files));
    input.value = ""; // the same file can be chosen again
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    analysePhotos(Array.from(event.dataTransfer.files));
  });
  // a file dropped beside the zone must not make the browser leave the page to show it
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());
}

// ---------------------------------------------------------------------------------------------
// Webcam

const webcam = { stream: null, timer: null };

function cameraError(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Camera permission was denied. Allow the camera for this page in the browser's settings.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No camera was found.";
    case "NotReadableError":
      return "The camera is in use by another program, or could not be started.";
    default:
      return `The camera is unavailable (${(err && err.name) || "unknown error"}).`;
  }
}

function webcamStatus(text, isError = false) {
  const status = document.getElementById("webcam-status");
  status.textContent = text;
  status.classList.toggle("error-text", isError);
}

async function startWebcam() {
  if (webcam.stream) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    webcamStatus("This browser gives this page no camera access (cameras need https or localhost).", true);
    return;
  }
  webcamStatus("Asking for the camera\u2026");
  try {
    webcam.stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: WEBCAM_SIDE }, height: { ideal: 480 } }, audio: false,
    });
  } catch (err) {
    webcamStatus(cameraError(err), true);
    return;
  }
  const video = document.getElementById("webcam-video");
  video.srcObject = webcam.stream;
  webcam.stream.getVideoTracks().forEach((track) => track.addEventListener("ended", () => {
    stopWebcam();
    webcamStatus("The camera stopped.", true);
  }));
  try {
    await video.play();
  } catch (err) {
    stopWebcam();
    webcamStatus(cameraError(err), true);
    return;
  }
  document.getElementById("webcam-start").disabled = true;
  document.getElementById("webcam-stop").disabled = false;
  webcamStatus("The camera is on; looking for faces\u2026");
  webcamTick();
}

function stopWebcam() {
  clearTimeout(webcam.timer);
  if (webcam.stream) webcam.stream.getTracks().forEach((track) => track.stop());
  webcam.stream = null;
  const video = document.getElementById("webcam-video");
  video.srcObject = null;
  const overlay = document.getElementById("webcam-overlay");
  overlay.getContext("2d").clearRect(0, 0, overlay.width, overlay.height);
  document.getElementById("webcam-faces").replaceChildren();
  document.getElementById("webcam-start").disabled = false;
  document.getElementById("webcam-stop").disabled = true;
  webcamStatus("The camera is off.");
}

function grabFrame(video) {
  const fit = Math.min(1, WEBCAM_SIDE / Math.max(video.videoWidth, video.videoHeight));
  const frame = element("canvas");
  frame.width = Math.round(video.videoWidth * fit);
  frame.height = Math.round(video.videoHeight * fit);
  frame.getContext("2d").drawImage(video, 0, 0, frame.width, frame.height);
  return new Promise((resolve) => frame.toBlob(resolve, "image/jpeg", 0.85));
}

// One frame: grab, send, draw; then the next after what is left of WEBCAM_PERIOD_MS, so that a slow
// server gets one request at a time and never a queue.
async function webcamTick() {
  const stream = webcam.stream;
  const video = document.getElementById("webcam-video");
  if (!stream) return;
  const started = performance.now();
  if (video.videoWidth > 0) {
    try {
      const blob = await grabFrame(video);
      const result = blob ? await predict(blob) : null;
      if (result && webcam.stream === stream) {
        drawWebcamResult(video, result);
        webcamStatus(`The camera is on: ${describeFaces(result.faces, result.calibrated)} `
          + `(${Math.round(result.timings_ms.total)} ms).`);
      }
    } catch (err) {
      if (webcam.stream === stream) webcamStatus(err.message, true);
    }
  }
  if (webcam.stream === stream) {
    webcam.timer = setTimeout(webcamTick, Math.max(0, WEBCAM_PERIOD_MS - (performance.now() - started)));
  }
}

function drawWebcamResult(video, result) {
  const overlay = document.getElementById("webcam-overlay");
  overlay.width = video.clientWidth;
  overlay.height = video.clientHeight;
  const ctx = overlay.getContext("2d");
  ctx.clearRect(0, 0, overlay.width, overlay.height);
  drawFaces(ctx, result.faces, overlay.width / result.image.width, result.calibrated);
  fillFaceList(document.getElementById("webcam-faces"), result);
}

function setUpWebcam() {
  document.getElementById("webcam-start").addEventListener("click", startWebcam);
  document.getElementById("webcam-stop").addEventListener("click", stopWebcam);
}

// ---------------------------------------------------------------------------------------------
// Tabs (the WAI-ARIA tabs pattern: click, or the arrow keys on a focused tab)

function setUpTabs() {
  const tabs = Array.from(document.querySelectorAll('[role="tab"]'));
  function select(tab) {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute("aria-selected", String(selected));
      other.tabIndex = selected ? 0 : -1;
      document.getElementById(other.getAttribute("aria-controls")).hidden = !selected;
    }
    if (tab.id !== "tab-webcam" && webcam.stream) stopWebcam(); // the camera stays on only while shown
  }
  tabs.forEach((tab, i) => {
    tab.addEventListener("click", () => select(tab));
    tab.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (!step) return;
      const next = tabs[(i + step + tabs.length) % tabs.length];
      select(next);
      next.focus();
    });
  });
}

// ---------------------------------------------------------------------------------------------

async function loadHealth() {
  const info = document.getElementById("model-info");
  try {
    const response = await fetch("/api/health");
    if (!response.ok) throw new Error(response.statusText);
    const health = await response.json();
    state.colours = health.colours || {};
    state.maxUploadBytes = health.max_upload_bytes || Infinity;
    state.legend = health.explain_legend || [];
    const select = document.getElementById("explain-toggle");
    const titles = health.explain_titles || {};
    for (const method of health.explain || []) { // the server's order: the faithful method first
      const option = element("option", null, titles[method] || method);
      option.value = method;
      select.append(option);
    }
    document.getElementById("explain-legend").replaceChildren(heatLegend());
    const whole = document.getElementById("whole-image"); // detector=none: each photo one face crop
    document.getElementById("crops").hidden = !(health.detectors || []).includes("none");
    whole.checked = health.detector === "none";
    whole.disabled = health.detector === "none"; // the server's own face stage: every photo is whole already
    info.textContent = `Model ${health.model} (${health.classes.length} classes: ${health.classes.join(", ")}); `
      + `faces found by ${health.detector}`
      + `${health.calibrated === false ? "; its scores rank the classes but are not probabilities" : ""}.`;
  } catch (err) {
    info.textContent = "The server is not answering; reload the page when it runs.";
    info.classList.add("error-text");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  setUpTabs();
  setUpPhotos();
  setUpWebcam();
  state.ready = loadHealth();
});
