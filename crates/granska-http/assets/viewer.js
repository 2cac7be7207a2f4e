// Granska reading station: the four-view mammography viewer.
// Each view arrives as its stored values (X-Image-Dtype, X-Image-Meta); it is windowed here with
// the DICOM grayscale pipeline (rescale → VOI LINEAR / LINEAR_EXACT / SIGMOID → MONOCHROME1 →
// the reader's invert) through a lookup table into a full-resolution offscreen canvas, which is
// drawn into the visible canvas with the view's transform (fit × zoom, pan, horizontal flip).
import { NETWORK_MESSAGE, errorText, goSignIn } from '/web/assets/station.js';

/** The hanging protocol's four slots, in grid order: R-CC | L-CC over R-MLO | L-MLO. */
export const SLOTS = ['R-CC', 'L-CC', 'R-MLO', 'L-MLO'];

const DTYPES = { u8: Uint8Array, i8: Int8Array, u16: Uint16Array, i16: Int16Array, u32: Uint32Array, i32: Int32Array };
const MAX_SCALE = 8; // screen pixels per image pixel
const WHEEL_STEP = 1.25; // per wheel notch (deltaY 100)
const KEY_STEP = 1.25;
const WL_PIXELS = 800; // a drag this long changes the window by the whole value range
const LOUPE_CSS = 220;
const LOUPE_SCALE = 2; // screen pixels per image pixel in the magnifier
const MAX_DIRECT_LUT = 1 << 20;
const PRESETS = ['header', 'full', 'narrow'];

/** Downloads one view: its stored values and description. Rejects with the server's message. */
async function fetchPicture(url, signal) {
  const res = await fetch(url, { signal, credentials: 'same-origin' }).catch((e) => {
    throw e && e.name === 'AbortError' ? e : new Error(NETWORK_MESSAGE);
  });
  if (res.status === 401) goSignIn();
  if (!res.ok) throw new Error(await errorText(res));
  const dtype = (res.headers.get('X-Image-Dtype') || '').trim().toLowerCase();
  const metaText = res.headers.get('X-Image-Meta');
  if (!metaText) throw new Error('The server sent no image description (X-Image-Meta).');
  let meta = null;
  try {
    meta = JSON.parse(metaText);
  } catch { /* said below */ }
  if (!meta || typeof meta !== 'object') throw new Error('The image description (X-Image-Meta) could not be read.');
  const Type = DTYPES[dtype];
  if (!Type) throw new Error(`Unsupported pixel type "${dtype}".`);
  const { rows, columns: cols } = meta;
  if (!(Number.isInteger(rows) && Number.isInteger(cols) && rows > 0 && cols > 0)) throw new Error('The image description has no valid size.');
  const buffer = await res.arrayBuffer();
  const n = rows * cols;
  if (buffer.byteLength < n * Type.BYTES_PER_ELEMENT) {
    throw new Error(`The image is truncated (${buffer.byteLength} bytes for ${cols}×${rows} ${dtype}).`);
  }
  return new Picture(meta, new Type(buffer, 0, n)); // first frame only
}

/** One view's stored values and its offscreen rendering. */
export class Picture {
  constructor(meta, data) {
    const slope = Number(meta.rescale_slope);
    const intercept = Number(meta.rescale_intercept);
    Object.assign(this, {
      meta, data, rows: meta.rows, cols: meta.columns,
      slope: Number.isFinite(slope) && slope !== 0 ? slope : 1,
      intercept: Number.isFinite(intercept) ? intercept : 0,
    });
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < data.length; i += 1) {
      const v = data[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const a = min * this.slope + this.intercept;
    const b = max * this.slope + this.intercept;
    Object.assign(this, { smin: min, smax: max, mmin: Math.min(a, b), mmax: Math.max(a, b) });
    this.range = Math.max(1, this.mmax - this.mmin);
    this.mono1 = String(meta.photometric || '').toUpperCase() === 'MONOCHROME1';
    const fn = String(meta.voi_lut_function || 'LINEAR').toUpperCase();
    this.voi = fn === 'LINEAR_EXACT' || fn === 'SIGMOID' ? fn : 'LINEAR';
    this.windows = (Array.isArray(meta.windows) ? meta.windows : [])
      .filter((w) => w && Number.isFinite(w.center) && Number.isFinite(w.width) && w.width > 0);
    const span = max - min + 1;
    this.binned = span > MAX_DIRECT_LUT;
    this.lutSize = this.binned ? 65536 : span;
    this.binScale = this.binned ? 65536 / span : 1;
    this.lut = new Uint32Array(this.lutSize);
    Object.assign(this, layer(this.cols, this.rows));
    this.previews = new Map();
  }

  /** min..max of the modality values. */
  fullWindow() {
    return { center: (this.mmin + this.mmax) / 2, width: Math.max(this.minWidth(), this.mmax - this.mmin) };
  }

  minWidth() {
    return this.voi === 'LINEAR' ? 1 : Math.min(1, this.range / 4096);
  }

  /** The LUT: stored value (or bin) → packed RGBA gray. */
  buildLut(center, width, invert) {
    const { lut, lutSize, smin, slope, intercept, voi } = this;
    const reverse = this.mono1 !== invert;
    const step = this.binned ? 1 / this.binScale : 1;
    const c = center;
    const w = voi === 'LINEAR' ? Math.max(1, width) : Math.max(1e-9, width);
    const lo = c - 0.5 - (w - 1) / 2;
    const hi = c - 0.5 + (w - 1) / 2;
    for (let i = 0; i < lutSize; i += 1) {
      const x = (smin + i * step) * slope + intercept;
      let y;
      if (voi === 'LINEAR') {
        if (x <= lo) y = 0;
        else if (x > hi) y = 255;
        else y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255;
      } else if (voi === 'LINEAR_EXACT') {
        y = ((x - c) / w + 0.5) * 255;
      } else {
        y = 255 / (1 + Math.exp((-4 * (x - c)) / w));
      }
      let g = Math.round(y);
      g = g < 0 ? 0 : g > 255 ? 255 : g;
      if (reverse) g = 255 - g;
      lut[i] = 0xff000000 | (g << 16) | (g << 8) | g;
    }
  }

  /** The LUT index of a stored value. */
  index(v) {
    if (!this.binned) return v - this.smin;
    return Math.min(this.lutSize - 1, ((v - this.smin) * this.binScale) | 0);
  }

  /** Windows every stored value into the full-resolution offscreen canvas. */
  render(center, width, invert) {
    this.buildLut(center, width, invert);
    const { data, pixels, lut, smin } = this;
    const n = data.length;
    if (!this.binned) {
      for (let i = 0; i < n; i += 1) pixels[i] = lut[data[i] - smin];
    } else {
      for (let i = 0; i < n; i += 1) pixels[i] = lut[this.index(data[i])];
    }
    this.ctx.putImageData(this.image, 0, 0);
    return this;
  }

  /** A 1/k-size copy (block means) for fast windowing while a window drag is under way. */
  preview(k) {
    let p = this.previews.get(k);
    if (p) return p;
    const { cols, rows, data } = this;
    const pc = Math.ceil(cols / k);
    const pr = Math.ceil(rows / k);
    const sums = new Float64Array(pc * pr);
    for (let r = 0; r < rows; r += 1) {
      const out = ((r / k) | 0) * pc;
      const base = r * cols;
      for (let c = 0; c < cols; c += 1) sums[out + ((c / k) | 0)] += data[base + c];
    }
    const idx = new Uint32Array(pc * pr);
    for (let i = 0; i < idx.length; i += 1) {
      const n = Math.min(k, rows - ((i / pc) | 0) * k) * Math.min(k, cols - (i % pc) * k);
      idx[i] = this.index(Math.round(sums[i] / n));
    }
    p = { k, idx, ...layer(pc, pr) };
    this.previews.set(k, p);
    return p;
  }

  renderPreview(k, center, width, invert) {
    const p = this.preview(k);
    this.buildLut(center, width, invert);
    const { idx, pixels } = p;
    const lut = this.lut;
    for (let i = 0; i < idx.length; i += 1) pixels[i] = lut[idx[i]];
    p.ctx.putImageData(p.image, 0, 0);
    return p;
  }

  /** Whether the brighter (tissue-filled) side, after MONOCHROME1, is the right edge. */
  brighterOnRight(center, width) {
    this.buildLut(center, width, false);
    const { data, lut, cols, rows } = this;
    const band = Math.max(1, Math.floor(cols / 10));
    const rowStep = Math.max(1, Math.floor(rows / 400));
    const gray = (v) => lut[this.index(v)] & 0xff;
    let left = 0;
    let right = 0;
    for (let r = 0; r < rows; r += rowStep) {
      const base = r * cols;
      for (let c = 0; c < band; c += 1) {
        left += gray(data[base + c]);
        right += gray(data[base + cols - 1 - c]);
      }
    }
    return right > left;
  }

  /** Whether the chest wall is on the image's right edge (before any flip). */
  chestWallOnRight(defaultWindow) {
    const po = this.meta.patient_orientation;
    const first = Array.isArray(po) ? po[0] : typeof po === 'string' ? po.split('\\')[0] : null;
    if (typeof first === 'string' && first) {
      const u = first.toUpperCase();
      const a = u.includes('A');
      const p = u.includes('P');
      if (p && !a) return true; // columns run towards posterior: chest wall on the right
      if (a && !p) return false;
    }
    return this.brighterOnRight(defaultWindow.center, defaultWindow.width);
  }
}

/** An offscreen canvas with its ImageData and a packed-pixel view of it. */
function layer(cols, rows) {
  const canvas = Object.assign(document.createElement('canvas'), { width: cols, height: rows });
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(cols, rows);
  return { canvas, ctx, image, pixels: new Uint32Array(image.data.buffer) };
}

function fmt(x) {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a >= 100 ? String(Math.round(x)) : a >= 1 ? x.toFixed(1) : x.toPrecision(3);
}

const round6 = (x) => Math.round(x * 1e6) / 1e6;

/** One cell of the grid: its canvas, the picture in it and the view transform. */
class Pane {
  constructor(viewer, cell) {
    const q = (sel) => cell.querySelector(sel);
    Object.assign(this, { viewer, cell, slot: cell.dataset.slot, side: cell.dataset.slot[0], canvas: q('canvas') });
    Object.assign(this, { ctx: this.canvas.getContext('2d'), labelEl: q('.cell-label'), wlEl: q('.cell-wl'), msgEl: q('.cell-msg') });
    this.reset();
  }

  reset() {
    // shown: the layer drawn, the picture itself or a preview; scale 0: fit on the next draw.
    Object.assign(this, {
      pic: null, shown: null, center: 0, width: 1, windowIndex: 0, flip: false, scale: 0, panX: 0, panY: 0,
      needsRender: false, needsDraw: true, drawnOnce: false, settled: false,
    });
    const d = this.canvas.dataset;
    for (const k of ['drawn', 'windowCenter', 'windowWidth', 'zoom', 'invert', 'flipped', 'missing', 'sopInstanceUid']) delete d[k];
    this.labelEl.textContent = this.slot.replace('-', ' ');
    this.wlEl.textContent = '';
    this.message('');
  }

  message(text, isError = false) {
    Object.assign(this.msgEl, { textContent: text, hidden: !text });
    this.msgEl.classList.toggle('error', isError);
  }

  setMissing() {
    this.canvas.dataset.missing = 'true';
    this.message(`no ${this.slot} view`);
    this.needsDraw = true;
  }

  setLoading(view) {
    this.canvas.dataset.missing = 'false';
    if (view.sop_instance_uid) this.canvas.dataset.sopInstanceUid = view.sop_instance_uid;
    this.message(`Loading ${this.slot}…`);
  }

  setError(text) { this.message(`${this.slot} could not be shown: ${text}`, true); }

  setPicture(pic) {
    this.pic = pic;
    const w = this.headerWindow(0) || pic.fullWindow();
    // Hang with the chest wall towards the middle: right breast's on the right edge, left's on the left.
    const flip = pic.chestWallOnRight(w) !== (this.side === 'R');
    Object.assign(this, { shown: null, center: w.center, width: w.width, windowIndex: 0, flip, scale: 0, needsRender: true, needsDraw: true });
    this.canvas.dataset.flipped = String(flip);
    this.message('');
  }

  headerWindow(i) {
    const w = this.pic && this.pic.windows[i];
    return w ? { center: w.center, width: w.width } : null;
  }

  setWindow(center, width) {
    if (!this.pic) return;
    this.center = center;
    this.width = Math.max(this.pic.minWidth(), width);
    this.needsRender = true;
  }

  size() { return { W: this.canvas.width, H: this.canvas.height }; }

  /** Sizes the canvas to its cell (device pixels); a new size refits the view. */
  layout() {
    const dpr = window.devicePixelRatio || 1;
    const W = Math.round(this.cell.clientWidth * dpr);
    const H = Math.round(this.cell.clientHeight * dpr);
    if (W < 1 || H < 1) return;
    if (W !== this.canvas.width || H !== this.canvas.height) {
      Object.assign(this.canvas, { width: W, height: H });
      this.scale = 0;
    }
    this.needsDraw = true;
  }

  /** The preview size while dragging: 1/k of full resolution, still ≥ ½ screen pixel per pixel. */
  previewFactor() {
    let k = 1;
    while (k < 8 && this.scale * k * 2 <= 1) k *= 2;
    return k;
  }

  fitScale() {
    const { W, H } = this.size();
    return this.pic ? Math.min(W / this.pic.cols, H / this.pic.rows) : 1;
  }

  /** Fit, with the chest wall against the cell's inner edge (the breasts face each other). */
  fit() {
    if (!this.pic) return;
    const { W } = this.size();
    const scale = this.fitScale();
    const spare = Math.max(0, W - scale * this.pic.cols) / 2;
    Object.assign(this, { scale, panX: this.side === 'R' ? spare : -spare, panY: 0, needsDraw: true });
  }

  oneToOne() {
    if (this.pic) Object.assign(this, { scale: 1, panX: 0, panY: 0, needsDraw: true });
  }

  /** Zooms by `factor` keeping the canvas point (px, py) (device pixels) in place. */
  zoomAt(px, py, factor) {
    if (!this.pic) return;
    if (!this.scale) this.fit();
    const fit = this.fitScale();
    const s0 = this.scale;
    const s1 = Math.min(Math.max(fit, MAX_SCALE), Math.max(Math.min(fit, s0), s0 * factor));
    if (s1 === s0) return;
    if (s1 <= fit * 1.0001 && factor < 1) {
      this.fit();
      return;
    }
    const { W, H } = this.size();
    const [cx, cy] = [W / 2, H / 2];
    this.panX = px - cx - (s1 / s0) * (px - cx - this.panX);
    this.panY = py - cy - (s1 / s0) * (py - cy - this.panY);
    Object.assign(this, { scale: s1, needsDraw: true });
    this.clampPan();
  }

  panBy(dx, dy) {
    if (!this.pic) return;
    Object.assign(this, { panX: this.panX + dx, panY: this.panY + dy, needsDraw: true });
    this.clampPan();
  }

  /** Keeps some of the image on screen. */
  clampPan() {
    const { W, H } = this.size();
    const keep = 48 * (window.devicePixelRatio || 1);
    const mx = Math.max(0, (this.scale * this.pic.cols + W) / 2 - keep);
    const my = Math.max(0, (this.scale * this.pic.rows + H) / 2 - keep);
    this.panX = Math.min(mx, Math.max(-mx, this.panX));
    this.panY = Math.min(my, Math.max(-my, this.panY));
  }

  /** The view transform: image (x, y) → canvas (a·x + e, s·y + f). */
  transform() {
    const { W, H } = this.size();
    const s = this.scale;
    const a = this.flip ? -s : s;
    return { a, s, e: W / 2 + this.panX - (a * this.pic.cols) / 2, f: H / 2 + this.panY - (s * this.pic.rows) / 2 };
  }

  /** The image point under a canvas point (device pixels). */
  imagePoint(px, py) {
    const t = this.transform();
    return { x: (px - t.e) / t.a, y: (py - t.f) / t.s };
  }

  draw() {
    const { ctx } = this;
    const { W, H } = this.size();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, W, H);
    if (!this.pic) return;
    if (!this.scale) this.fit();
    const t = this.transform();
    const shown = this.shown || this.pic;
    const k = shown.k || 1;
    ctx.setTransform(t.a * k, 0, 0, t.s * k, t.e, t.f);
    ctx.imageSmoothingEnabled = t.s * k < 1;
    if (t.s * k < 1) ctx.imageSmoothingQuality = 'high';
    ctx.drawImage(shown.canvas, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    Object.assign(this.canvas.dataset, {
      windowCenter: this.center, windowWidth: this.width, zoom: round6(this.scale),
      invert: this.viewer.invert, flipped: this.flip, drawn: true,
    });
    this.wlEl.textContent = `W ${fmt(this.width)}  L ${fmt(this.center)}  ·  ${Math.round(this.scale * 100)}%`;
  }
}

/** The four-view viewer: loading, linked window/level, zoom/pan, solo view, magnifier. */
export class Viewer {
  /** grid: the element holding the four `.cell[data-slot]`; onSettled(drawnCount) after a load. */
  constructor(grid, { onSettled = () => {} } = {}) {
    Object.assign(this, {
      grid, onSettled, invert: false, preset: 'header', magnifier: false, generation: 0,
      abort: null, drag: null, loupeAt: null, frameRequested: false,
    });
    this.panes = SLOTS.map((slot) => new Pane(this, grid.querySelector(`.cell[data-slot="${slot}"]`)));
    this.loupe = Object.assign(document.createElement('canvas'), { className: 'magnifier', hidden: true });
    this.loupe.dataset.testid = 'magnifier';
    this.loupe.setAttribute('aria-hidden', 'true');
    document.body.append(this.loupe);

    const observer = new ResizeObserver(() => this.layoutAll());
    for (const pane of this.panes) {
      observer.observe(pane.cell);
      this.attach(pane);
    }
    window.addEventListener('resize', () => this.layoutAll());
    this.layoutAll();
  }

  layoutAll() {
    for (const pane of this.panes) pane.layout();
    this.requestFrame();
  }

  requestFrame() {
    if (this.frameRequested) return;
    this.frameRequested = true;
    requestAnimationFrame(() => {
      this.frameRequested = false;
      this.frame();
    });
  }

  frame() {
    for (const pane of this.panes) {
      if (pane.pic && pane.needsRender) {
        const k = this.drag && this.drag.mode === 'wl' && pane.scale ? pane.previewFactor() : 1;
        // While dragging, a small preview keeps up with the pointer; the full image follows.
        pane.shown = k > 1 ? pane.pic.renderPreview(k, pane.center, pane.width, this.invert)
          : pane.pic.render(pane.center, pane.width, this.invert);
        pane.needsRender = k > 1;
        pane.needsDraw = true;
      }
      if (pane.needsDraw) {
        pane.needsDraw = false;
        pane.draw();
        if (pane.pic && !pane.drawnOnce) {
          pane.drawnOnce = true;
          this.settle(pane, true);
        }
      }
    }
    if (this.loupeAt) this.drawLoupe();
  }

  /** Clears the grid (a new claim): aborts downloads, forgets pictures, four views back. */
  clear() {
    this.generation += 1;
    if (this.abort) this.abort.abort();
    this.setSolo(null);
    this.hideLoupe();
    this.preset = 'header';
    for (const pane of this.panes) pane.reset();
    this.requestFrame();
  }

  /** Hangs a claim's views; returns the views that are not hung (extra views). */
  load(views) {
    this.clear();
    const generation = this.generation;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const bySlot = new Map();
    const extras = [];
    for (const view of views || []) {
      const slot = `${String(view.laterality || '').toUpperCase()}-${String(view.view || '').toUpperCase()}`;
      if (SLOTS.includes(slot) && !bySlot.has(slot)) bySlot.set(slot, view);
      else extras.push(view);
    }
    Object.assign(this, { expected: bySlot.size, settledCount: 0, drawnCount: 0 });
    for (const pane of this.panes) {
      const view = bySlot.get(pane.slot);
      if (!view) pane.setMissing();
      if (!view) continue;
      pane.setLoading(view);
      fetchPicture(view.url, signal).then(
        (pic) => {
          if (generation !== this.generation) return;
          pane.setPicture(pic);
          this.requestFrame();
        },
        (error) => {
          if (generation !== this.generation || (error && error.name === 'AbortError')) return;
          pane.setError(error.message || String(error));
          this.settle(pane, false);
        },
      );
    }
    this.requestFrame();
    if (this.expected === 0) queueMicrotask(() => this.onSettled(0));
    return extras;
  }

  settle(pane, drawn) {
    if (pane.settled) return;
    pane.settled = true;
    this.settledCount += 1;
    this.drawnCount += drawn ? 1 : 0;
    if (this.settledCount === this.expected) this.onSettled(this.drawnCount);
  }

  loaded() { return this.panes.filter((p) => p.pic); }

  /** Window/level presets: 'header' (again: the next header window), 'full', 'narrow'. */
  applyPreset(name) {
    const again = name === 'header' && this.preset === 'header';
    for (const pane of this.loaded()) {
      const { pic } = pane;
      if (name === 'header' && pic.windows.length) pane.windowIndex = again ? (pane.windowIndex + 1) % pic.windows.length : 0;
      const header = pane.headerWindow(pane.windowIndex) || pane.headerWindow(0);
      let w = pic.fullWindow();
      if (name === 'header' && header) w = header;
      else if (name === 'narrow') w = { center: (header || w).center, width: (header || w).width / 2 };
      pane.setWindow(w.center, w.width);
    }
    this.preset = name;
    this.requestFrame();
    return name;
  }

  /** The next preset in turn (header → full range → narrow → header). */
  cyclePreset() {
    const i = PRESETS.indexOf(this.preset);
    return this.applyPreset(PRESETS[(i + 1) % PRESETS.length]);
  }

  /** Runs fn on every view with a picture, then redraws. */
  each(fn) {
    for (const pane of this.loaded()) fn(pane);
    this.requestFrame();
  }

  toggleInvert() {
    this.invert = !this.invert;
    this.each((pane) => { pane.needsRender = true; });
    return this.invert;
  }

  fitAll() { this.each((pane) => pane.fit()); }

  oneToOneAll() { this.each((pane) => pane.oneToOne()); }

  /** Zooms every view around its centre. */
  zoomAll(factor) { this.each((pane) => pane.zoomAt(pane.canvas.width / 2, pane.canvas.height / 2, factor)); }

  zoomIn() { this.zoomAll(KEY_STEP); }

  zoomOut() { this.zoomAll(1 / KEY_STEP); }

  /** Shows one slot alone (null: the four). */
  setSolo(slot) {
    if (slot && SLOTS.includes(slot)) this.grid.dataset.solo = slot;
    else delete this.grid.dataset.solo;
    this.layoutAll();
  }

  solo() { return this.grid.dataset.solo || null; }

  toggleMagnifier() {
    this.magnifier = !this.magnifier;
    if (!this.magnifier) this.hideLoupe();
    return this.magnifier;
  }

  hideLoupe() {
    this.loupeAt = null;
    this.loupe.hidden = true;
  }

  drawLoupe() {
    const { pane, clientX, clientY } = this.loupeAt;
    if (!pane.pic || !pane.scale) {
      this.loupe.hidden = true;
      return;
    }
    const dpr = window.devicePixelRatio || 1;
    const L = Math.round(LOUPE_CSS * dpr);
    if (this.loupe.width !== L) Object.assign(this.loupe, { width: L, height: L });
    const rect = pane.canvas.getBoundingClientRect();
    const p = pane.imagePoint((clientX - rect.left) * dpr, (clientY - rect.top) * dpr);
    const ctx = this.loupe.getContext('2d');
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, L, L);
    const a = pane.flip ? -LOUPE_SCALE : LOUPE_SCALE;
    ctx.setTransform(a, 0, 0, LOUPE_SCALE, L / 2 - a * p.x, L / 2 - LOUPE_SCALE * p.y);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(pane.pic.canvas, 0, 0);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    this.loupe.style.left = `${clientX - LOUPE_CSS / 2}px`;
    this.loupe.style.top = `${clientY - LOUPE_CSS / 2}px`;
    this.loupe.hidden = false;
  }

  /** Mouse and keyboard handling on one view's canvas. */
  attach(pane) {
    const canvas = pane.canvas;
    canvas.addEventListener('mousedown', (e) => {
      if (e.button === 1) e.preventDefault(); // no autoscroll on middle-button drag
    });
    canvas.addEventListener('pointerdown', (e) => {
      if (!pane.pic || (e.button !== 0 && e.button !== 1)) return;
      e.preventDefault();
      try {
        canvas.setPointerCapture(e.pointerId);
      } catch {
        /* a synthetic pointer: no capture */
      }
      const pan = e.button === 1 || e.shiftKey;
      this.drag = {
        pane, pointerId: e.pointerId, mode: pan ? 'pan' : 'wl', x0: e.clientX, y0: e.clientY, x: e.clientX, y: e.clientY,
        start: new Map(this.loaded().map((p) => [p, { center: p.center, width: p.width }])),
      };
      if (pan) this.grid.classList.add('panning');
    });
    canvas.addEventListener('pointermove', (e) => {
      const drag = this.drag;
      if (drag && drag.pointerId === e.pointerId && drag.pane === pane) {
        if (drag.mode === 'pan') {
          const dpr = window.devicePixelRatio || 1;
          pane.panBy((e.clientX - drag.x) * dpr, (e.clientY - drag.y) * dpr);
        } else {
          this.dragWindow(e.clientX - drag.x0, e.clientY - drag.y0);
        }
        Object.assign(drag, { x: e.clientX, y: e.clientY });
        this.requestFrame();
      }
      if (this.magnifier) {
        this.loupeAt = { pane, clientX: e.clientX, clientY: e.clientY };
        this.requestFrame();
      }
    });
    const end = (e) => {
      if (this.drag && this.drag.pointerId === e.pointerId) {
        this.drag = null;
        this.grid.classList.remove('panning');
        this.requestFrame(); // the full-resolution rendering after a preview
      }
    };
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
    canvas.addEventListener('pointerleave', () => {
      if (!this.drag) this.hideLoupe();
    });
    canvas.addEventListener('wheel', (e) => {
      if (!pane.pic) return;
      e.preventDefault();
      const lines = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 400 : 1;
      const notches = (e.deltaY * lines) / 100;
      if (!notches) return;
      const dpr = window.devicePixelRatio || 1;
      const rect = canvas.getBoundingClientRect();
      pane.zoomAt((e.clientX - rect.left) * dpr, (e.clientY - rect.top) * dpr, WHEEL_STEP ** -notches);
      if (this.magnifier) this.loupeAt = { pane, clientX: e.clientX, clientY: e.clientY };
      this.requestFrame();
    }, { passive: false });
    canvas.addEventListener('dblclick', (e) => {
      e.preventDefault();
      this.setSolo(this.solo() === pane.slot ? null : pane.slot);
    });
  }

  /** A window/level drag: the same change, relative to each view's value range, on every view. */
  dragWindow(dx, dy) {
    this.preset = null;
    for (const [pane, start] of this.drag.start) {
      const unit = pane.pic.range / WL_PIXELS;
      pane.setWindow(start.center + dy * unit, start.width + dx * unit);
    }
  }
}
