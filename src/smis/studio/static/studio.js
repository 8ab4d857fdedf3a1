// smis studio: the page. Paints class ids on a canvas, sends them to the server after each stroke
// (at most one request in flight and one queued, so updates follow the pointer as fast as the model
// allows), and drives the per-class looks. No framework, no build step, nothing from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const S = {
  info: null, sid: null, H: 0, W: 0, label: null, classes: [],
  tool: "brush", paint: 1, eraser: 0, brush: 8,
  undo: [], redo: [], drawing: false, last: null, strokeChanged: false,
  chain: Promise.resolve(), pending: 0, labelDirty: false, labelQueued: false,
  morphQueued: new Map(), rows: new Map(), lastMs: null,
};
const UNDO_LIMIT = 60;

// --- requests -------------------------------------------------------------------------------
class ApiError extends Error {
  constructor(message, status, field) { super(message); this.status = status; this.field = field; }
}

async function api(method, path, { json, body, form } = {}) {
  const init = { method, headers: {} };
  if (json !== undefined) { init.body = JSON.stringify(json); init.headers["content-type"] = "application/json"; }
  else if (form) init.body = form;
  else if (body) { init.body = body; init.headers["content-type"] = "application/octet-stream"; }
  let res;
  try { res = await fetch(path, init); }
  catch (e) { throw new ApiError("the studio server does not answer (is it still running?)", 0, null); }
  const type = res.headers.get("content-type") || "";
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`, field = null;
    if (type.includes("json")) { const d = await res.json(); message = d.error || message; field = d.field; }
    throw new ApiError(message, res.status, field);
  }
  return type.includes("json") ? res.json() : res.blob();
}

const sessionPath = (rest) => `/api/sessions/${S.sid}${rest}`;

// Every model request goes through one chain, so they reach the server in order.
function enqueue(task, errorField) {
  S.pending++;
  setStatus();
  const run = async () => {
    const t0 = performance.now();
    try {
      const out = await task();
      S.lastMs = performance.now() - t0;
      if (errorField) clearError(errorField);
      return out;
    } catch (e) {
      showError(e.field && errorSlot(e.field) ? e.field : errorField, e);
      throw e;
    } finally { S.pending--; setStatus(); }
  };
  const p = S.chain.then(run, run);
  S.chain = p.catch(() => {});
  return S.chain;               // errors are shown where they belong; callers need no catch
}
const idle = () => S.chain;

function setStatus(text) {
  const el = $("status");
  const working = S.pending > 0;
  el.classList.toggle("working", working);
  $("busy").hidden = !working;
  el.textContent = text || (working ? "working…" : S.lastMs == null ? "ready" : `ready · last edit ${Math.round(S.lastMs)} ms`);
}

// --- errors next to the control that caused them ------------------------------------------------
function errorSlot(field) {
  if (!field) return null;
  const m = /^(look|seed|morph|take)-(\d+)$/.exec(field);
  if (m) { const row = S.rows.get(+m[2]); return row ? row.err : null; }
  return $(`err-${field}`);
}
function showError(field, e) {
  const message = e instanceof Error ? e.message : String(e);
  if (e && e.field === "session") return showBanner(message, true);
  const slot = errorSlot(field);
  if (!slot) return showBanner(message, false);
  slot.textContent = message;
  slot.hidden = false;
}
function clearError(field) { const slot = errorSlot(field); if (slot) slot.hidden = true; }
function showBanner(message, reload) {
  const b = $("banner");
  b.textContent = message;
  if (reload) { const btn = document.createElement("button"); btn.textContent = "Reload"; btn.onclick = () => location.reload(); b.append(btn); }
  b.hidden = false;
}

// --- answers from the server -----------------------------------------------------------------
function apply(answer) {
  if (answer.image) $("image").src = answer.image;
  if (answer.label) { setLabel(decodeIds(answer.label), false); clearError("label"); }
  if (answer.state) applyState(answer.state);
  return answer;
}

function decodeIds(b64) {
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  return S.info.label_dtype === "uint8" ? bytes : new Uint16Array(bytes.buffer);
}

function applyState(state) {
  S.sid = state.session;
  S.classes = state.classes;
  for (const c of state.classes) updateRow(c);
  const present = state.classes.filter((c) => c.present).length;
  $("classes").querySelector(".empty").hidden = present > 0;
  const ref = state.reference;
  $("ref-name").textContent = ref ? `reference: ${ref.name}` : "no reference yet";
  if (ref && ref.picture) { $("ref-picture").src = ref.picture; $("ref-picture").hidden = false; }
  if (!ref) $("ref-picture").hidden = true;
}

// --- the label canvas ------------------------------------------------------------------------
let ctx, pixels, rgb;

function setupCanvas() {
  const { H, W } = S;
  const canvas = $("label");
  canvas.width = W; canvas.height = H;
  ctx = canvas.getContext("2d");
  pixels = ctx.createImageData(W, H);
  for (const id of ["label-stage", "image-stage"]) $(id).style.aspectRatio = `${W} / ${H}`;
  rgb = S.info.classes.map((c) => [1, 3, 5].map((i) => parseInt(c.colour.slice(i, i + 2), 16)));
}

function setLabel(ids, record) {
  if (record) pushUndo();
  S.label = S.label && S.label.length === ids.length ? S.label : new ids.constructor(ids.length);
  S.label.set(ids);
  redraw();
}

function redraw(x0 = 0, y0 = 0, x1 = S.W, y1 = S.H) {
  const d = pixels.data, W = S.W;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = y * W + x, c = rgb[S.label[i]] || [0, 0, 0];
      d[4 * i] = c[0]; d[4 * i + 1] = c[1]; d[4 * i + 2] = c[2]; d[4 * i + 3] = 255;
    }
  }
  ctx.putImageData(pixels, 0, 0, x0, y0, x1 - x0, y1 - y0);
}

function toLabel(evt, el) {
  const r = el.getBoundingClientRect();
  return { x: ((evt.clientX - r.left) / r.width) * S.W, y: ((evt.clientY - r.top) / r.height) * S.H };
}

function stamp(cx, cy, cls) {
  const r = S.brush / 2, { W, H } = S;
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(W, Math.ceil(cx + r + 1));
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(H, Math.ceil(cy + r + 1));
  let changed = false;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const dx = x + 0.5 - cx, dy = y + 0.5 - cy;
      if (dx * dx + dy * dy <= r * r || (r < 1 && x === Math.floor(cx) && y === Math.floor(cy))) {
        const i = y * W + x;
        if (S.label[i] !== cls) { S.label[i] = cls; changed = true; }
      }
    }
  }
  if (changed) redraw(x0, y0, x1, y1);
  return changed;
}

function strokeTo(p) {
  const cls = S.tool === "eraser" ? S.eraser : S.paint;
  const from = S.last || p;
  const steps = Math.max(1, Math.ceil(Math.hypot(p.x - from.x, p.y - from.y) / Math.max(0.5, S.brush / 4)));
  let changed = false;
  for (let k = 1; k <= steps; k++) {
    const t = k / steps;
    changed = stamp(from.x + (p.x - from.x) * t, from.y + (p.y - from.y) * t, cls) || changed;
  }
  S.last = p;
  return changed;
}

function floodFill(px, py, cls) {
  const { W, H } = S, x0 = Math.floor(px), y0 = Math.floor(py);
  if (x0 < 0 || y0 < 0 || x0 >= W || y0 >= H) return false;
  const target = S.label[y0 * W + x0];
  if (target === cls) return false;
  const stack = [y0 * W + x0];
  S.label[y0 * W + x0] = cls;
  while (stack.length) {
    const i = stack.pop(), x = i % W, y = (i - x) / W;
    if (x > 0 && S.label[i - 1] === target) { S.label[i - 1] = cls; stack.push(i - 1); }
    if (x < W - 1 && S.label[i + 1] === target) { S.label[i + 1] = cls; stack.push(i + 1); }
    if (y > 0 && S.label[i - W] === target) { S.label[i - W] = cls; stack.push(i - W); }
    if (y < H - 1 && S.label[i + W] === target) { S.label[i + W] = cls; stack.push(i + W); }
  }
  redraw();
  return true;
}

function pushUndo() {
  S.undo.push(S.label.slice());
  if (S.undo.length > UNDO_LIMIT) S.undo.shift();
  S.redo = [];
  updateUndo();
}
function updateUndo() { $("undo").disabled = !S.undo.length; $("redo").disabled = !S.redo.length; }
function undo() {
  if (!S.undo.length) return;
  S.redo.push(S.label.slice());
  S.label.set(S.undo.pop());
  redraw(); updateUndo(); sendLabel();
}
function redoStep() {
  if (!S.redo.length) return;
  S.undo.push(S.label.slice());
  S.label.set(S.redo.pop());
  redraw(); updateUndo(); sendLabel();
}

// The label map goes to the server as raw class ids; one request queued at most, carrying the
// latest ids when it runs (so fast strokes coalesce instead of piling up).
function sendLabel() {
  S.labelDirty = true;
  if (S.labelQueued) return S.chain;
  S.labelQueued = true;
  return enqueue(async () => {
    S.labelQueued = false;
    if (!S.labelDirty) return;
    S.labelDirty = false;
    apply(await api("PUT", sessionPath("/label/ids"), { body: S.label.slice().buffer }));
  }, "label");
}

function setupPainting() {
  const stage = $("label-stage"), canvas = $("label"), ring = $("brush-ring");
  let timer = null;
  const moveRing = (e) => {
    const r = canvas.getBoundingClientRect(), scale = r.width / S.W;
    ring.hidden = false;
    ring.style.left = `${e.clientX - r.left}px`; ring.style.top = `${e.clientY - r.top}px`;
    ring.style.width = ring.style.height = `${Math.max(3, S.brush * scale)}px`;
  };
  stage.addEventListener("pointerdown", (e) => {
    if (e.button !== 0) return;
    const p = toLabel(e, canvas);
    if (S.tool === "fill") {
      const before = S.label.slice();
      if (floodFill(p.x, p.y, S.paint)) { S.undo.push(before); S.redo = []; updateUndo(); sendLabel(); }
      return;
    }
    stage.setPointerCapture(e.pointerId);
    S.drawing = true; S.last = null;
    S.strokeStart = S.label.slice(); S.strokeChanged = false;
    S.strokeChanged = strokeTo(p);
    if (S.strokeChanged) sendLabel();
  });
  stage.addEventListener("pointermove", (e) => {
    moveRing(e);
    if (!S.drawing) return;
    if (strokeTo(toLabel(e, canvas))) {
      S.strokeChanged = true;
      clearTimeout(timer);
      if (!S.labelQueued && S.pending === 0) sendLabel();          // live while the model keeps up
      else timer = setTimeout(sendLabel, 40);                       // otherwise debounced
    }
  });
  const end = () => {
    if (!S.drawing) return;
    S.drawing = false; S.last = null;
    if (S.strokeChanged) {
      S.undo.push(S.strokeStart); if (S.undo.length > UNDO_LIMIT) S.undo.shift();
      S.redo = []; updateUndo(); clearTimeout(timer); sendLabel();
    }
  };
  stage.addEventListener("pointerup", end);
  stage.addEventListener("pointercancel", end);
  stage.addEventListener("pointerleave", () => { ring.hidden = true; });
}

function selectTool(tool) {
  S.tool = tool;
  for (const b of document.querySelectorAll(".tool")) b.classList.toggle("active", b.dataset.tool === tool);
}
function selectClass(c) {
  S.paint = c;
  for (const b of $("palette").children) b.classList.toggle("active", +b.dataset.cls === c);
  if (S.tool === "eraser") selectTool("brush");
}

// --- the class rows --------------------------------------------------------------------------
function buildRows() {
  const box = $("classes"), tpl = $("class-row");
  const empty = document.createElement("p");
  empty.className = "empty"; empty.textContent = "Paint something: every class in the label map gets a row here.";
  box.append(empty);
  for (const cls of S.info.classes) {
    const node = tpl.content.firstElementChild.cloneNode(true);
    node.dataset.cls = cls.id;
    node.querySelector(".swatch").style.background = cls.colour;
    node.querySelector("b").textContent = cls.name;
    const row = {
      node, seed: node.querySelector(".seed"), look: node.querySelector(".look"),
      lock: node.querySelector(".lock input"), take: node.querySelector(".take"),
      morph: node.querySelector(".morph"), source: node.querySelector(".source"), err: node.querySelector(".err"),
    };
    row.look.addEventListener("click", () => newLook(cls.id, null));
    row.seed.addEventListener("change", () => {
      const v = Number(row.seed.value);
      if (Number.isInteger(v) && v >= 0) newLook(cls.id, v);
      else showError(`seed-${cls.id}`, "a seed is a whole number from 0 to 2147483647");
    });
    row.lock.addEventListener("change", () => enqueue(async () => {
      try {
        apply(await api("POST", sessionPath(`/classes/${cls.id}/lock`), { json: { locked: row.lock.checked } }));
      } catch (e) { row.lock.checked = !row.lock.checked; throw e; }
    }, `look-${cls.id}`));
    row.take.addEventListener("click", () => enqueue(async () =>
      apply(await api("POST", sessionPath(`/classes/${cls.id}/take-look`))), `take-${cls.id}`));
    row.morph.addEventListener("input", () => morph(cls.id, row.morph.value / 100));
    S.rows.set(cls.id, row);
    box.append(node);
  }
}

function updateRow(c) {
  const row = S.rows.get(c.id);
  row.node.hidden = !c.present;
  row.node.classList.toggle("locked", c.locked);
  if (document.activeElement !== row.seed) row.seed.value = c.seed;
  row.lock.checked = c.locked;
  row.look.disabled = row.seed.disabled = c.locked;
  row.take.disabled = c.locked || !c.in_reference;
  row.take.title = c.in_reference ? "Copy this class's look from the reference" : "The reference does not show this class";
  row.morph.disabled = c.locked || !c.morph;
  row.morph.title = c.morph ? "Slide between this class's previous look and its current one" : "Give it a new look first";
  if (document.activeElement !== row.morph && !S.morphQueued.has(c.id)) row.morph.value = Math.round(c.t * 100);
  row.source.textContent = c.source;
}

function newLook(c, seed) {
  return enqueue(async () =>
    apply(await api("POST", sessionPath(`/classes/${c}/look`), { json: { seed } })), `look-${c}`);
}

function morph(c, t) {
  const queued = S.morphQueued.has(c);
  S.morphQueued.set(c, t);
  if (queued) return;
  enqueue(async () => {
    const latest = S.morphQueued.get(c);
    S.morphQueued.delete(c);
    apply(await api("POST", sessionPath(`/classes/${c}/morph`), { json: { t: latest } }));
  }, `morph-${c}`);
}

// --- files ------------------------------------------------------------------------------------
async function download(path, filename) {
  await idle();
  try {
    const blob = await api("GET", sessionPath(path));
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob); a.download = filename;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
    clearError("download");
  } catch (e) { showError(path.startsWith("/codes") ? "codes" : "download", e); }
}

function upload(input, path, field, record) {
  const file = input.files[0];
  input.value = "";
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  enqueue(async () => {
    const before = S.label.slice();
    const answer = await api("POST", sessionPath(path), { form });
    if (record && answer.label) { S.undo.push(before); S.redo = []; updateUndo(); }
    apply(answer);
  }, field);
}

function setupFiles() {
  $("label-file").addEventListener("change", (e) => upload(e.target, "/label", "label", true));
  $("codes-file").addEventListener("change", (e) => upload(e.target, "/codes", "codes", true));
  $("dl-ids").addEventListener("click", () => download("/label.png?kind=ids", "label.png"));
  $("dl-colour").addEventListener("click", () => download("/label.png?kind=colour", "label_colour.png"));
  $("dl-image").addEventListener("click", () => download("/image.png", "image.png"));
  $("dl-codes").addEventListener("click", () => download("/codes", "studio.codes"));
  $("example").addEventListener("change", (e) => {
    const index = e.target.value;
    e.target.value = "";
    if (index === "") return;
    enqueue(async () => {
      const before = S.label.slice();
      apply(await api("POST", sessionPath("/example"), { json: { index: +index } }));
      S.undo.push(before); S.redo = []; updateUndo();
    }, "example");
  });
  for (const id of ["ref-photo", "ref-label"]) {
    $(id).addEventListener("change", () => {
      const file = $(id).files[0];
      $(`${id}-name`).textContent = file ? file.name : "no file";
      clearError(id === "ref-photo" ? "reference-photo" : "reference-label");
    });
  }
  $("ref-use").addEventListener("click", () => {
    const photo = $("ref-photo").files[0], label = $("ref-label").files[0];
    if (!photo) return showError("reference-photo", "choose a photo first");
    if (!label) return showError("reference-label", "choose its label map too");
    const form = new FormData();
    form.append("photo", photo, photo.name); form.append("label", label, label.name);
    enqueue(async () => {
      apply(await api("POST", sessionPath("/reference"), { form }));
      clearError("reference-label");
    }, "reference-photo");
  });
  $("ref-example").addEventListener("change", (e) => {
    const index = e.target.value;
    e.target.value = "";
    if (index === "") return;
    enqueue(async () => apply(await api("POST", sessionPath("/reference/example"), { json: { index: +index } })),
      "reference-photo");
  });
  $("shuffle").addEventListener("click", () =>
    enqueue(async () => apply(await api("POST", sessionPath("/shuffle"), { json: {} })), "shuffle"));
}

// --- start -----------------------------------------------------------------------------------
function setupControls() {
  const info = S.info;
  $("model").textContent = `${info.description ? info.description + " · " : ""}${info.name}, ` +
    `${info.classes.length} classes, ${info.size[0]}×${info.size[1]}, ${info.device}`;
  const palette = $("palette"), eraser = $("eraser-class");
  for (const cls of info.classes) {
    const b = document.createElement("button");
    b.type = "button"; b.dataset.cls = cls.id; b.title = `paint ${cls.name}`;
    const sw = document.createElement("i"); sw.className = "swatch"; sw.style.background = cls.colour;
    b.append(sw, document.createTextNode(cls.name));
    b.addEventListener("click", () => selectClass(cls.id));
    palette.append(b);
    eraser.append(new Option(cls.name, cls.id));
  }
  eraser.addEventListener("change", () => { S.eraser = +eraser.value; });
  for (const ex of info.examples) {
    $("example").append(new Option(ex.name, ex.index));
    $("ref-example").append(new Option(ex.name, ex.index));
  }
  for (const b of document.querySelectorAll(".tool")) b.addEventListener("click", () => selectTool(b.dataset.tool));
  const size = $("brush-size");
  size.max = Math.max(16, Math.round(Math.max(S.H, S.W) / 4));
  S.brush = Math.max(2, Math.round(Math.min(S.H, S.W) / 12));
  size.value = S.brush; $("brush-size-out").textContent = S.brush;
  size.addEventListener("input", () => { S.brush = +size.value; $("brush-size-out").textContent = size.value; });
  $("undo").addEventListener("click", undo);
  $("redo").addEventListener("click", redoStep);
  $("clear").addEventListener("click", () => { pushUndo(); S.label.fill(S.eraser); redraw(); sendLabel(); });
  document.addEventListener("keydown", (e) => {
    if (e.target.matches("input[type=number], input[type=text], select")) return;
    const key = e.key.toLowerCase();
    if ((e.ctrlKey || e.metaKey) && key === "z") { e.preventDefault(); e.shiftKey ? redoStep() : undo(); }
    else if ((e.ctrlKey || e.metaKey) && key === "y") { e.preventDefault(); redoStep(); }
    else if (e.ctrlKey || e.metaKey || e.altKey) return;
    else if (key === "b") selectTool("brush");
    else if (key === "f") selectTool("fill");
    else if (key === "e") selectTool("eraser");
    else if (key === "[" || key === "]") {
      S.brush = Math.max(1, Math.min(+size.max, S.brush + (key === "]" ? 2 : -2)));
      size.value = S.brush; $("brush-size-out").textContent = S.brush;
    }
  });
}

async function start() {
  try {
    S.info = await api("GET", "/api/info");
    [S.H, S.W] = S.info.size;
    setupCanvas(); setupControls(); buildRows(); setupPainting(); setupFiles();
    const answer = await api("POST", "/api/sessions", { json: { example: 0, seed: 0 } });
    apply(answer);
    const car = S.info.classes.findIndex((c) => c.name === "car");
    selectClass(car >= 0 ? car : Math.min(1, S.info.classes.length - 1));
    document.body.dataset.ready = "1";
    setStatus();
  } catch (e) {
    showBanner(`the studio could not start: ${e.message}`, true);
  }
}

start();
