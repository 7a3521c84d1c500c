// numcnn explain: the page. Plain JavaScript, no library, no build step.
// Every number shown comes from numcnn: from the server's endpoints (numcnn's forward and backward pass),
// or, in a page saved with `numcnn explain RUN --html`, from the arrays numcnn stored in it.
"use strict";
(() => {
  // ---------------------------------------------------------------- small helpers
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function fmt(v, digits = 4) {
    if (v === null || v === undefined) return "–";
    if (typeof v !== "number" || !isFinite(v)) return String(v);
    if (v === 0) return "0";
    const a = Math.abs(v);
    if (a >= 1e4 || a < 1e-3) return v.toExponential(2);
    return String(Number(v.toPrecision(digits)));
  }
  const pct = (p) => (100 * p).toFixed(1) + "%";
  const shapeText = (shape) => shape.join(" × ");

  function showError(message) {
    const box = $("#error");
    box.textContent = message;
    box.classList.toggle("hidden", !message);
  }

  // ---------------------------------------------------------------- arrays and colours
  function b64bytes(text) {
    const raw = atob(text);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  // An array numcnn encoded (encode_array): exact float32, or 8 bits with the range it was quantised over.
  function decode(enc) {
    const bytes = b64bytes(enc.data);
    if (enc.dtype === "float32") return { shape: enc.shape, data: new Float32Array(bytes.buffer), approx: false };
    if (enc.min === undefined) return { shape: enc.shape, data: bytes, approx: false };
    const data = new Float32Array(bytes.length);
    const span = enc.max - enc.min;
    for (let i = 0; i < bytes.length; i++) data[i] = enc.min + (bytes[i] / 255) * span;
    return { shape: enc.shape, data, approx: true };
  }

  const LUTS = {};
  function setColormaps(maps) {
    for (const [name, rows] of Object.entries(maps)) {
      const lut = new Uint8ClampedArray(256 * 3);
      rows.forEach((rgb, i) => lut.set(rgb, 3 * i));
      LUTS[name] = lut;
    }
  }

  // values (H*W, row-major) into canvas pixels, coloured over [vmin, vmax].
  function paint(canvas, values, h, w, vmin, vmax, cmap = "viridis") {
    const lut = LUTS[cmap] || LUTS.viridis;
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(w, h);
    const span = vmax - vmin;
    for (let i = 0; i < h * w; i++) {
      const v = values[i];
      let k = span > 0 ? Math.round(((v - vmin) / span) * 255) : 0;
      k = Math.max(0, Math.min(255, isFinite(k) ? k : 0));
      image.data[4 * i] = lut[3 * k];
      image.data[4 * i + 1] = lut[3 * k + 1];
      image.data[4 * i + 2] = lut[3 * k + 2];
      image.data[4 * i + 3] = isFinite(v) ? 255 : 60;
    }
    ctx.putImageData(image, 0, 0);
    return canvas;
  }

  function colourOf(v, vmin, vmax, cmap = "viridis") {
    const lut = LUTS[cmap] || LUTS.viridis;
    const span = vmax - vmin;
    const k = Math.max(0, Math.min(255, span > 0 ? Math.round(((v - vmin) / span) * 255) : 0));
    return `rgb(${lut[3 * k]},${lut[3 * k + 1]},${lut[3 * k + 2]})`;
  }

  function scaleBar(vmin, vmax, cmap) {
    const bar = el("canvas");
    const ramp = new Float32Array(64).map((_, i) => i);
    paint(bar, ramp, 1, 64, 0, 63, cmap);
    return el("div", { class: "scale", title: "colour scale of this layer" },
      el("span", { text: fmt(vmin, 3) }), bar, el("span", { text: fmt(vmax, 3) }));
  }

  // the scale of a map of h x w pixels shown in the columns
  function mapScale(h, w, count = 1) {
    const side = Math.max(h, w);
    const target = count > 16 ? 56 : 72;
    return Math.max(1, Math.min(12, Math.round(target / side)));
  }

  // a layer's maps as the page reads them, whatever their source
  function mapPage(payload) {
    const d = decode(payload.maps);
    const n = payload.height * payload.width;
    return { ...payload, approx: d.approx, get: (k) => d.data.subarray(k * n, (k + 1) * n) };
  }

  // an (H, W, C) or (C, H, W) array: channel c as H*W row-major
  function channelAccessor(decoded, dataFormat) {
    const [a, b, c] = decoded.shape;
    const last = dataFormat !== "channels_first";
    const h = last ? a : b, w = last ? b : c, channels = last ? c : a;
    const data = decoded.data;
    return {
      h, w, channels, approx: decoded.approx,
      at: (ch, y, x) => (last ? data[(y * w + x) * channels + ch] : data[(ch * h + y) * w + x]),
      get(ch) {
        if (!last) return data.subarray(ch * h * w, (ch + 1) * h * w);
        const out = new Float32Array(h * w);
        for (let i = 0; i < h * w; i++) out[i] = data[i * channels + ch];
        return out;
      },
    };
  }

  function rangeOf(values) {
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return lo <= hi ? [lo, hi] : [0, 0];
  }

  const ACTIVATIONS = {
    linear: (z) => z, relu: (z) => Math.max(0, z), tanh: Math.tanh, sigmoid: (z) => 1 / (1 + Math.exp(-z)),
    relu6: (z) => Math.min(6, Math.max(0, z)), elu: (z) => (z > 0 ? z : Math.expm1(z)),
    swish: (z) => z / (1 + Math.exp(-z)), silu: (z) => z / (1 + Math.exp(-z)),
  };

  // ---------------------------------------------------------------- the server's endpoints
  class ServerSource {
    constructor() { this.mode = "server"; }
    async get(path, params = {}) {
      const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null));
      const response = await fetch(`${path}?${query}`);
      const body = await response.json();
      if (!response.ok) throw new Error(body.error || response.statusText);
      return body;
    }
    async post(path, body, params = {}, raw = false) {
      const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v));
      const response = await fetch(`${path}?${query}`, {
        method: "POST", body: raw ? body : JSON.stringify(body),
        headers: { "X-Numcnn": "1", "Content-Type": raw ? "application/octet-stream" : "application/json" },
      });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.error || response.statusText);
      return answer;
    }
    info() { return this.get("/api/info"); }
    layers() { return this.get("/api/layers"); }
    async maps(layer, start, count) {
      const p = await this.get("/api/maps", { layer, start, count });
      if (p.kind === "vector") return { ...p, values: decode(p.values).data };
      return mapPage(p);
    }
    summary(layer) { return this.get("/api/summary", { layer }); }
    unit(layer, channel, y, x, extra = {}) { return this.get("/api/unit", { layer, channel, y, x, ...extra }); }
    sliding(layer, channel) { return this.get("/api/sliding_window", { layer, channel }); }
    im2col(layer, start, count) { return this.get("/api/im2col", { layer, start, count }); }
    async saliency(classIndex) {
      const s = await this.get("/api/saliency", { class_index: classIndex });
      return { ...s, canChoose: true, saliency_map: decode(s.saliency_map), input_gradient: decode(s.input_gradient),
        picture: s.picture && decode(s.picture) };
    }
    async gradients(layer, classIndex, start, count) {
      const p = await this.get("/api/gradients", { layer, class_index: classIndex, start, count });
      if (p.kind === "vector") return { ...p, values: decode(p.values).data };
      return mapPage(p);
    }
    testImages(label, mistakes, start, count) {
      return this.get("/api/test_images", { label, mistakes: mistakes ? 1 : 0, start, count });
    }
    thumb(index) { return `/api/test_images/${index}.png`; }
    select(index) { return this.post("/api/select", { index }); }
    upload(file, invert) { return this.post("/api/upload", file, { invert }, true); }
    draw(width, height, b64, invert) { return this.post("/api/draw", { width, height, pixels: { uint8: b64 } }, { invert }); }
    live() { return this.get("/api/live"); }
    snapshot() { return this.get("/api/snapshot"); }
    pictureUrl() { return `/api/picture.png?t=${Date.now()}`; }
  }

  // ---------------------------------------------------------------- a saved page's arrays
  class BundleSource {
    constructor(bundle) {
      this.mode = "file";
      this.bundle = bundle;
      this.layersByName = Object.fromEntries(bundle.layers.map((l) => [l.name, l]));
      this.current = 0;
      this.cache = new Map();
    }
    image() { return this.bundle.images[this.current]; }
    async info() {
      return { mode: "file", info: this.bundle.info, history: this.bundle.history, colormaps: this.bundle.colormaps,
        live: null, test_count: this.bundle.images.length };
    }
    prediction() { return this.image().prediction; }
    async layers() {
      const img = this.image();
      const layers = this.bundle.layers.map((l) => {
        const d = this.arr(l.name);
        const [min, max] = rangeOf(d.data);
        return { ...l, min, max };
      });
      return { layers, prediction: img.prediction };
    }
    // a layer's output for the current image, decoded once
    arr(name) {
      const key = `${this.current}/${name}`;
      if (!this.cache.has(key)) this.cache.set(key, decode(this.image().maps[name]));
      return this.cache.get(key);
    }
    // the exact input and output of a layer (its exact parts when the maps are quantised)
    exactIO(layer) {
      const img = this.image();
      const parts = (img.exact_parts || {})[layer.name];
      const input = parts && parts.input ? decode(parts.input) : this.arr(layer.inputs[0]);
      const output = parts && parts.output ? decode(parts.output) : this.arr(layer.name);
      return { input, output, winners: parts && parts.winners ? decode(parts.winners) : null };
    }
    async maps(layer, start, count) {
      const l = this.layersByName[layer];
      const d = this.arr(layer);
      const [vmin, vmax] = rangeOf(d.data);
      if (l.kind === "vector") return { kind: "vector", layer, total: d.data.length, vmin, vmax, values: d.data, approx: d.approx };
      const acc = channelAccessor(d, l.data_format);
      const stop = Math.min(acc.channels, start + count);
      return { kind: "maps", layer, start, count: stop - start, total: acc.channels, height: acc.h, width: acc.w,
        vmin, vmax, approx: d.approx, get: (k) => acc.get(start + k) };
    }
    async summary(layerName) {
      const acc = channelAccessor(this.arr(layerName), this.layersByName[layerName].data_format);
      const mean_abs = [];
      for (let c = 0; c < acc.channels; c++) mean_abs.push(acc.get(c).reduce((t, v) => t + Math.abs(v), 0) / (acc.h * acc.w));
      return { layer: layerName, channels: acc.channels, mean_abs };
    }
    async unit(layerName, channel, y, x, extra = {}) {
      const layer = this.layersByName[layerName];
      const io = this.exactIO(layer);
      if (layer.class_name === "Conv2D" || layer.class_name === "DepthwiseConv2D")
        return convUnit(this, layer, io, channel, y, x, extra.channel_start || 0, extra.channel_count || 8);
      if (layer.class_name === "MaxPooling2D" || layer.class_name === "AveragePooling2D")
        return poolUnit(this, layer, io, channel, y, x);
      if (layer.class_name === "Dense") return denseUnit(this, layer, io, channel);
      const d = this.arr(layerName);
      const value = layer.kind === "maps" ? channelAccessor(d, layer.data_format).at(channel, y, x) : d.data[channel];
      return { layer: layerName, class_name: layer.class_name, kind: "value", channel, y, x, output: value, approx: d.approx };
    }
    async sliding(layerName, channel) {
      const layer = this.layersByName[layerName];
      const acc = channelAccessor(this.arr(layerName), layer.data_format);
      const input = channelAccessor(this.arr(layer.inputs[0]), this.layersByName[layer.inputs[0]].data_format);
      const size = layer.kernel_size || layer.pool_size;
      const strides = layer.strides, pads = layer.pads, dilation = layer.dilation_rate || [1, 1];
      const steps = [], values = [];
      for (let i = 0; i < acc.h; i++) for (let j = 0; j < acc.w; j++) {
        steps.push([i, j, i * strides[0] - pads[0][0], j * strides[1] - pads[1][0]]);
        values.push(acc.at(channel, i, j));
      }
      return { layer: layerName, kernel_size: size, strides, dilation_rate: dilation, pads, input_hw: [input.h, input.w],
        output_hw: [acc.h, acc.w], total: steps.length, start: 0, steps, channel, values };
    }
    async im2col(layerName, start, count) { return im2colPage(this, this.layersByName[layerName], start, count); }
    async saliency(classIndex) {
      const img = this.image();
      const s = img.saliency;
      const input = decode(s.gradients.input);
      const inputLayer = this.layersByName.input;
      const acc = channelAccessor(input, inputLayer.data_format);
      const map = new Float32Array(acc.h * acc.w);
      for (let c = 0; c < acc.channels; c++) {
        const g = acc.get(c);
        for (let i = 0; i < map.length; i++) map[i] = Math.max(map[i], Math.abs(g[i]));
      }
      const layers = Object.entries(s.gradients).map(([name, enc]) => {
        const d = decode(enc);
        const [min, max] = rangeOf(d.data);
        return { name, shape: enc.shape, min, max, kind: this.layersByName[name] ? this.layersByName[name].kind : "other" };
      });
      return { class_index: s.class_index, loss: s.loss, layers, canChoose: false, class_names: this.bundle.info.class_names,
        saliency_map: { shape: [acc.h, acc.w], data: map }, input_gradient: input, picture: decode(img.picture) };
    }
    async gradients(layerName, classIndex, start, count) {
      const layer = this.layersByName[layerName];
      const d = decode(this.image().saliency.gradients[layerName]);
      const [lo, hi] = rangeOf(d.data);
      const bound = Math.max(Math.abs(lo), Math.abs(hi));
      if (layer.kind === "vector") return { kind: "vector", layer: layerName, total: d.data.length, vmin: -bound, vmax: bound, values: d.data };
      const acc = channelAccessor(d, layer.data_format);
      const stop = Math.min(acc.channels, start + count);
      return { kind: "maps", start, count: stop - start, total: acc.channels, height: acc.h, width: acc.w,
        vmin: -bound, vmax: bound, approx: d.approx, get: (k) => acc.get(start + k) };
    }
    async testImages(label, mistakes, start, count) {
      let items = this.bundle.images.map((img, k) => ({ index: img.index, position: k, label: img.label,
        predicted: img.prediction.predicted, confidence: Math.max(...img.prediction.probabilities) }));
      if (label !== null && label !== undefined && label !== "") items = items.filter((i) => i.label === Number(label));
      if (mistakes) items = items.filter((i) => i.label !== i.predicted);
      return { total: items.length, start, items: items.slice(start, start + count) };
    }
    thumb(index) {
      const k = this.bundle.images.findIndex((img) => img.index === index);
      return pictureDataUrl(decode(this.bundle.images[k].picture));
    }
    async select(index) {
      this.current = this.bundle.images.findIndex((img) => img.index === index);
      return this.image().prediction;
    }
  }

  function pictureDataUrl(decoded) {
    const [h, w, c] = decoded.shape;
    const canvas = el("canvas", { width: w, height: h });
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(w, h);
    for (let i = 0; i < h * w; i++) {
      for (let k = 0; k < 3; k++) image.data[4 * i + k] = Math.round(255 * decoded.data[i * c + (c === 3 ? k : 0)]);
      image.data[4 * i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
    return canvas.toDataURL();
  }

  // ----- unit details of a saved page, from the arrays numcnn stored (the map's number is numcnn's)
  function convTaps(layer, i, j) {
    const [kh, kw] = layer.kernel_size, [sh, sw] = layer.strides, [dh, dw] = layer.dilation_rate;
    const rows = [], cols = [];
    for (let a = 0; a < kh; a++) rows.push(i * sh + a * dh - layer.pads[0][0]);
    for (let b = 0; b < kw; b++) cols.push(j * sw + b * dw - layer.pads[1][0]);
    return { rows, cols };
  }

  function convUnit(src, layer, io, channel, y, x, channelStart, channelCount) {
    const weights = src.bundle.weights[layer.weights];
    const kernel = decode(weights.kernel); // (kh, kw, cg, F)
    const bias = weights.bias ? decode(weights.bias).data : null;
    const [kh, kw, cg, filters] = kernel.shape;
    const inLayer = src.layersByName[layer.inputs[0]];
    const input = channelAccessor(io.input, inLayer.data_format);
    const output = channelAccessor(io.output, layer.data_format);
    const group = Math.floor(channel / (filters / layer.groups));
    const { rows, cols } = convTaps(layer, y, x);
    const inside = (r, c) => r >= 0 && r < input.h && c >= 0 && c < input.w;
    const window = [], kern = [], products = [], channelSums = [];
    let total = 0, absTotal = 0;
    for (let ci = 0; ci < cg; ci++) {
      const wrows = [], krows = [], prows = [];
      let s = 0;
      for (let a = 0; a < kh; a++) {
        const wr = [], kr = [], pr = [];
        for (let b = 0; b < kw; b++) {
          const v = inside(rows[a], cols[b]) ? input.at(group * cg + ci, rows[a], cols[b]) : 0;
          const k = kernel.data[((a * kw + b) * cg + ci) * filters + channel];
          wr.push(v); kr.push(k); pr.push(v * k); s += v * k; absTotal += Math.abs(v * k);
        }
        wrows.push(wr); krows.push(kr); prows.push(pr);
      }
      channelSums.push(s); total += s;
      if (ci >= channelStart && ci < channelStart + channelCount) { window.push(wrows); kern.push(krows); products.push(prows); }
    }
    const b = bias ? bias[channel] : 0;
    const pre = total + b;
    const act = layer.activation || "linear";
    const f = ACTIVATIONS[act];
    const padding = rows.map((r) => cols.map((c) => !inside(r, c)));
    const out = output.at(channel, y, x);
    return { layer: layer.name, class_name: layer.class_name, kind: "conv", channel, y, x, input: layer.inputs[0],
      input_channels: Array.from({ length: cg }, (_, k) => group * cg + k), channel_start: channelStart,
      kernel_size: [kh, kw], strides: layer.strides, dilation_rate: layer.dilation_rate, pads: layer.pads,
      groups: layer.groups, rows, cols, padding, window, kernel: kern, products, channel_sums: channelSums,
      sum: total, bias: b, has_bias: !!bias, pre_activation: pre, activation: act, value: f ? f(pre) : null,
      output: out, tolerance: (kh * kw * cg + 1) * 1.2e-7 * (absTotal + Math.abs(b)) + 5e-7 * Math.abs(out),
      computed_in_page: true };
  }

  function poolUnit(src, layer, io, channel, y, x) {
    const inLayer = src.layersByName[layer.inputs[0]];
    const input = channelAccessor(src.arr(layer.inputs[0]), inLayer.data_format);
    const output = channelAccessor(io.output, layer.data_format);
    const [ph, pw] = layer.pool_size, [sh, sw] = layer.strides;
    const rows = [], cols = [];
    for (let a = 0; a < ph; a++) rows.push(y * sh - layer.pads[0][0] + a);
    for (let b = 0; b < pw; b++) cols.push(x * sw - layer.pads[1][0] + b);
    const window = rows.map((r) => cols.map((c) => (r >= 0 && r < input.h && c >= 0 && c < input.w ? input.at(channel, r, c) : null)));
    const result = { layer: layer.name, class_name: layer.class_name, channel, y, x, input: layer.inputs[0], rows, cols,
      window, output: output.at(channel, y, x), approx: input.approx };
    if (layer.class_name === "MaxPooling2D") {
      let k = 0, best = -Infinity;
      if (io.winners) {
        const wa = channelAccessor(io.winners, "channels_last");
        k = wa.at(channel, y, x);
      } else {
        window.flat().forEach((v, idx) => { if (v !== null && v > best) { best = v; k = idx; } });
      }
      return { ...result, kind: "max", winner: [Math.floor(k / pw), k % pw], value: window[Math.floor(k / pw)][k % pw] };
    }
    const real = window.flat().filter((v) => v !== null);
    const sum = real.reduce((s, v) => s + v, 0);
    return { ...result, kind: "average", sum, count: real.length, value: sum / real.length };
  }

  function denseUnit(src, layer, io, unit) {
    const weights = src.bundle.weights[layer.weights];
    const kernel = decode(weights.kernel); // (in, out)
    const bias = weights.bias ? decode(weights.bias).data[unit] : 0;
    const [n, units] = kernel.shape;
    const x = io.input.data;
    const contributions = [];
    let total = 0, pos = 0, neg = 0;
    for (let i = 0; i < n; i++) {
      const p = x[i] * kernel.data[i * units + unit];
      contributions.push({ index: i, x: x[i], w: kernel.data[i * units + unit], product: p, source: null });
      total += p; if (p > 0) pos += p; else neg += p;
    }
    contributions.sort((a, b) => Math.abs(b.product) - Math.abs(a.product));
    const act = layer.activation || "linear";
    const pre = total + bias;
    const f = ACTIVATIONS[act];
    return { layer: layer.name, class_name: "Dense", kind: "dense", unit, input: layer.inputs[0], features: n,
      top: contributions.slice(0, 10), positive_sum: pos, negative_sum: neg, sum: total, bias, pre_activation: pre,
      activation: act, value: f ? f(pre) : null, output: io.output.data[unit], computed_in_page: true };
  }

  function im2colPage(src, layer, start, count) {
    const io = src.exactIO(layer);
    const weights = src.bundle.weights[layer.weights];
    const kernel = decode(weights.kernel);
    const [kh, kw, cg, filters] = kernel.shape;
    const output = channelAccessor(io.output, layer.data_format);
    const input = channelAccessor(io.input, src.layersByName[layer.inputs[0]].data_format);
    const rowsTotal = output.h * output.w;
    const stop = Math.min(rowsTotal, start + count);
    const fg = filters / layer.groups;
    const K = cg * kh * kw, F = Math.min(fg, 64);
    const patches = [], product = [], out = [], positions = [];
    const kernelMatrix = [];
    for (let k = 0; k < K; k++) {
      const ci = Math.floor(k / (kh * kw)), a = Math.floor((k % (kh * kw)) / kw), b = k % kw;
      const row = [];
      for (let f = 0; f < F; f++) row.push(kernel.data[((a * kw + b) * cg + ci) * filters + f]);
      kernelMatrix.push(row);
    }
    const bias = weights.bias ? Array.from(decode(weights.bias).data).slice(0, F) : new Array(F).fill(0);
    for (let r = start; r < stop; r++) {
      const i = Math.floor(r / output.w), j = r % output.w;
      const { rows, cols } = convTaps(layer, i, j);
      const patch = [];
      for (let ci = 0; ci < cg; ci++) for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
        const inside = rows[a] >= 0 && rows[a] < input.h && cols[b] >= 0 && cols[b] < input.w;
        patch.push(inside ? input.at(ci, rows[a], cols[b]) : 0);
      }
      patches.push(patch);
      product.push(bias.map((bv, f) => patch.reduce((s, v, k) => s + v * kernelMatrix[k][f], bv)));
      out.push(bias.map((_, f) => output.at(f, i, j)));
      positions.push([i, j]);
    }
    const columns = [];
    for (let k = 0; k < K; k++) columns.push([Math.floor(k / (kh * kw)), Math.floor((k % (kh * kw)) / kw), k % kw]);
    return { layer: layer.name, patches, kernel_matrix: kernelMatrix, bias, product, output: out, positions, columns,
      rows: rowsTotal, start, group: 0, groups: layer.groups, activation: layer.activation,
      shape: { patches: [stop - start, K], kernel_matrix: [K, fg] } };
  }

  // ---------------------------------------------------------------- state
  const state = {
    source: null, info: null, layers: [], prediction: null, pages: {}, gradPages: {}, selected: null,
    view: "network", gradClass: null, testFilter: { label: "", mistakes: false, start: 0 },
    lastDrawing: null, modelVersion: 0, live: null, steps: [], stepsPerEpoch: null, renderCount: 0,
    animation: null, inputSeq: 0,
  };
  window.numcnnExplain = state; // for the browser tests and the curious

  // ---------------------------------------------------------------- prediction
  function renderPrediction(p) {
    state.prediction = p;
    const box = $("#prediction");
    box.replaceChildren();
    const names = p.class_names;
    let order = names.map((_, k) => k);
    if (names.length > 20) order = order.sort((a, b) => p.probabilities[b] - p.probabilities[a]).slice(0, 10);
    for (const k of order) {
      const row = el("div", { class: "bar-row", dataset: { class: k, probability: p.probabilities[k] } },
        el("span", { class: "bar-name", text: names[k], title: names[k] }),
        el("div", { class: "bar-track" }, el("div", { class: "bar-fill" })),
        el("span", { class: "bar-value", text: pct(p.probabilities[k]) }));
      row.querySelector(".bar-fill").style.width = `${(100 * p.probabilities[k]).toFixed(2)}%`;
      if (k === p.predicted) row.classList.add("predicted");
      if (p.label !== null && p.label !== undefined && k === p.label) row.classList.add("truth");
      if (k === p.predicted && p.label !== null && p.label !== undefined && p.label !== p.predicted) row.classList.add("wrong");
      box.append(row);
    }
    const label = p.label !== null && p.label !== undefined ? `, true class ${names[p.label]}` : "";
    $("#prediction-source").textContent = `(${p.source}${label})`;
    $("#prediction").dataset.predicted = p.predicted;
    const warnings = $("#warnings");
    warnings.replaceChildren(...(p.warnings || []).map((w) => el("li", { text: w })));
  }

  // ---------------------------------------------------------------- network columns
  const PAGE = 32;

  // the layers and the prediction of the current input; false when a newer input was sent meanwhile
  async function loadLayers() {
    const seq = state.inputSeq;
    const answer = await state.source.layers();
    if (seq !== state.inputSeq) return false;
    state.layers = answer.layers;
    renderPrediction(answer.prediction);
    return true;
  }

  async function renderNetwork() {
    const token = ++state.renderCount;
    const box = $("#columns");
    const columns = await Promise.all(state.layers.map((layer) => layerColumn(layer, false)));
    if (token !== state.renderCount) return;
    box.replaceChildren(...columns.filter(Boolean));
    if (state.selected) markSelected();
    document.body.dataset.rendered = String(token);
  }

  async function layerColumn(layer, gradients) {
    const pages = gradients ? state.gradPages : state.pages;
    const start = pages[layer.name] || 0;
    let payload;
    try {
      payload = gradients
        ? await state.source.gradients(layer.name, state.gradClass, start, PAGE)
        : await state.source.maps(layer.name, start, PAGE);
    } catch (e) {
      if (gradients) return null; // the gradient did not reach it
      throw e;
    }
    if (layer.kind === "other") return null;
    const cmap = gradients ? "RdBu_r" : layer.name === "input" ? "gray" : "viridis";
    const column = el("div", { class: "column", dataset: { layer: layer.name } },
      el("h3", { text: layer.name }),
      el("div", { class: "cls", text: layer.class_name + (layer.activation ? ` · ${layer.activation}` : "") }),
      el("div", { class: "shape", text: shapeText(layer.output_shape) }),
      el("div", { class: "range", text: `${gradients ? "grad " : ""}range ${fmt(payload.vmin, 3)} … ${fmt(payload.vmax, 3)}` }),
      scaleBar(payload.vmin, payload.vmax, cmap));
    if (payload.approx) column.append(el("div", { class: "approx", text: "≈ 8-bit maps" }));
    if (!gradients && payload.kind === "maps" && payload.total > PAGE) {
      column.append(strengthStrip(layer, (await state.source.summary(layer.name)).mean_abs, payload));
    }
    if (payload.kind === "vector") {
      column.append(vectorView(layer, payload, cmap, gradients));
      column.style.width = payload.values.length <= 20 ? "180px" : "150px";
    } else {
      column.append(...mapsView(layer, payload, cmap, gradients));
      const scale = mapScale(payload.height, payload.width, payload.total);
      column.style.width = `${Math.max(124, mapsPerRow(payload) * (payload.width * scale + 8) + 22)}px`;
    }
    return column;
  }

  function mapsPerRow(payload) {
    return Math.min(payload.count, payload.total <= 4 ? 1 : payload.total <= 16 ? 2 : payload.total <= 36 ? 3 : 4);
  }

  function mapsView(layer, payload, cmap, gradients) {
    const scale = mapScale(payload.height, payload.width, payload.total);
    const perRow = mapsPerRow(payload);
    const grid = el("div", { class: "maps" });
    grid.style.gridTemplateColumns = `repeat(${perRow}, ${payload.width * scale + 2}px)`;
    for (let k = 0; k < payload.count; k++) {
      const channel = payload.start + k;
      const values = payload.get(k);
      const canvas = paint(el("canvas", { dataset: { channel } }), values, payload.height, payload.width, payload.vmin, payload.vmax, cmap);
      canvas.style.width = `${payload.width * scale}px`;
      canvas.style.height = `${payload.height * scale}px`;
      const where = (event) => {
        const r = canvas.getBoundingClientRect();
        const y = Math.min(payload.height - 1, Math.floor(((event.clientY - r.top) / r.height) * payload.height));
        const x = Math.min(payload.width - 1, Math.floor(((event.clientX - r.left) / r.width) * payload.width));
        return { y, x, value: values[y * payload.width + x] };
      };
      canvas.addEventListener("mousemove", (event) => {
        const p = where(event);
        tooltip(event, `${layer.name} ch ${channel} (${p.y}, ${p.x}) = ${fmt(p.value, 6)}${payload.approx ? " ≈" : ""}`);
      });
      canvas.addEventListener("mouseleave", () => tooltip(null));
      if (!gradients) canvas.addEventListener("click", (event) => { const p = where(event); openUnit(layer, channel, p.y, p.x); });
      grid.append(el("div", { class: "map", dataset: { channel } }, canvas, el("span", { class: "mlabel", text: `${channel}` })));
    }
    const parts = [grid];
    if (payload.total > payload.count || payload.start > 0) {
      const pages = gradients ? state.gradPages : state.pages;
      const go = (start) => async () => {
        pages[layer.name] = start;
        const column = await layerColumn(layer, gradients);
        const old = $(`${gradients ? "#grad-columns" : "#columns"} .column[data-layer="${CSS.escape(layer.name)}"]`);
        if (old && column) old.replaceWith(column);
      };
      parts.push(el("div", { class: "pager" },
        el("button", { text: "◀", disabled: payload.start === 0, onclick: go(Math.max(0, payload.start - PAGE)) }),
        el("span", { text: `${payload.start + 1}–${payload.start + payload.count} of ${payload.total}` }),
        el("button", { text: "▶", disabled: payload.start + payload.count >= payload.total, onclick: go(payload.start + PAGE) })));
    }
    return parts;
  }

  // every channel's mean |activation| as a bar: where the active channels are; a click opens that page
  function strengthStrip(layer, strengths, payload) {
    const n = strengths.length, width = 240, height = 40;
    const canvas = el("canvas", { class: "strip", width, height });
    const ctx = canvas.getContext("2d");
    const top = Math.max(...strengths) || 1;
    ctx.fillStyle = "#e9edf2";
    ctx.fillRect((payload.start / n) * width, 0, Math.max(2, (payload.count / n) * width), height);
    ctx.fillStyle = "#2156c9";
    for (let c = 0; c < n; c++) {
      const h = (strengths[c] / top) * (height - 2);
      ctx.fillRect((c / n) * width, height - h, Math.max(1, width / n), h);
    }
    const channelAt = (e) => { const r = canvas.getBoundingClientRect(); return Math.min(n - 1, Math.floor(((e.clientX - r.left) / r.width) * n)); };
    canvas.addEventListener("mousemove", (e) => { const c = channelAt(e); tooltip(e, `channel ${c}: mean |value| ${fmt(strengths[c], 4)} (click: its page)`); });
    canvas.addEventListener("mouseleave", () => tooltip(null));
    canvas.addEventListener("click", async (e) => {
      state.pages[layer.name] = Math.floor(channelAt(e) / PAGE) * PAGE;
      const column = await layerColumn(layer, false);
      const old = $(`#columns .column[data-layer="${CSS.escape(layer.name)}"]`);
      if (old && column) old.replaceWith(column);
    });
    return el("div", { class: "strength" }, el("div", { class: "mlabel", text: `all ${n} channels, mean |value| (grey: this page)` }), canvas);
  }

  function vectorView(layer, payload, cmap, gradients) {
    const values = payload.values;
    const last = state.layers[state.layers.length - 1] === layer;
    if (values.length <= 20) {
      const names = last && state.info.info ? state.info.info.class_names : null;
      return el("div", { class: "vec-list" }, Array.from(values, (v, k) => {
        const sw = el("span", { class: "swatch" });
        sw.style.background = colourOf(v, payload.vmin, payload.vmax, cmap);
        return el("div", { class: "vrow", dataset: { unit: k }, title: `unit ${k} = ${v}`,
          onclick: gradients ? null : () => openUnit(layer, k, 0, 0) },
          el("span", { text: names ? names[k] : `${k}` }), sw, el("span", { text: fmt(v) }));
      }));
    }
    const cols = Math.ceil(Math.sqrt(values.length));
    const rows = Math.ceil(values.length / cols);
    const grid = new Float32Array(rows * cols).fill(NaN);
    grid.set(values);
    const canvas = paint(el("canvas"), grid, rows, cols, payload.vmin, payload.vmax, cmap);
    const scale = Math.min(14, 112 / cols);
    canvas.style.width = `${cols * scale}px`;
    canvas.style.height = `${rows * scale}px`;
    const unitAt = (event) => {
      const r = canvas.getBoundingClientRect();
      const y = Math.floor(((event.clientY - r.top) / r.height) * rows), x = Math.floor(((event.clientX - r.left) / r.width) * cols);
      return Math.min(values.length - 1, y * cols + x);
    };
    canvas.addEventListener("mousemove", (e) => { const k = unitAt(e); tooltip(e, `${layer.name} unit ${k} = ${fmt(values[k], 6)}`); });
    canvas.addEventListener("mouseleave", () => tooltip(null));
    if (!gradients) canvas.addEventListener("click", (e) => openUnit(layer, unitAt(e), 0, 0));
    return el("div", { class: "vector" }, canvas, el("div", { class: "mlabel", text: `${values.length} units, ${cols} a row` }));
  }

  function tooltip(event, text) {
    const tip = $("#tooltip");
    if (!event) { tip.classList.add("hidden"); return; }
    tip.textContent = text;
    tip.style.left = `${event.clientX + 14}px`;
    tip.style.top = `${event.clientY + 12}px`;
    tip.classList.remove("hidden");
  }

  function markSelected() {
    $$(".map.selected").forEach((m) => m.classList.remove("selected"));
    const s = state.selected;
    if (!s) return;
    const node = $(`#columns .column[data-layer="${CSS.escape(s.layer)}"] .map[data-channel="${s.channel}"]`);
    if (node) node.classList.add("selected");
  }

  // ---------------------------------------------------------------- unit detail
  async function openUnit(layer, channel, y, x, channelStart = 0) {
    stopAnimation();
    state.selected = { layer: layer.name, channel, y, x };
    markSelected();
    const box = $("#detail");
    let unit;
    try {
      unit = await state.source.unit(layer.name, channel, y, x, { channel_start: channelStart, channel_count: 8 });
    } catch (e) { showError(e.message); return; }
    box.replaceChildren(...unitView(layer, unit));
    box.classList.remove("hidden");
    box.dataset.layer = layer.name;
    box.dataset.output = unit.output;
    if (unit.kind === "conv" || unit.kind === "max" || unit.kind === "average") {
      box.append(await animationView(layer, unit));
    }
    if (unit.kind === "conv") box.append(await im2colView(layer, unit));
    box.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function numTable(rows, opts = {}) {
    const table = el("table", { class: "nums" });
    if (opts.caption) table.append(el("caption", { text: opts.caption }));
    rows.forEach((row, a) => table.append(el("tr", {}, row.map((v, b) => {
      const pad = opts.padding && opts.padding[a][b];
      const win = opts.winner && opts.winner[0] === a && opts.winner[1] === b;
      return el("td", { class: pad ? "pad" : win ? "win" : null, title: v === null ? "padding" : String(v), text: v === null ? "pad" : fmt(v) });
    }))));
    return table;
  }

  function equation(parts) {
    // parts: strings, or [value, class] for a number
    return el("div", { class: "formula" }, parts.map((p) => (typeof p === "string" ? p :
      el("span", { class: `num ${p[1] || ""}`, title: String(p[0]), dataset: p[2] ? { [p[2]]: p[0] } : {} }, fmt(p[0], 6)))));
  }

  function checkLine(unit) {
    const same = unit.value !== null && unit.value !== undefined &&
      Math.abs(unit.value - unit.output) <= (unit.tolerance !== undefined ? unit.tolerance : 1e-6 + 1e-5 * Math.abs(unit.output));
    return el("div", { class: "formula" }, "The number in the map: ",
      el("span", { class: "num result", title: String(unit.output), dataset: { mapValue: unit.output } }, fmt(unit.output, 7)),
      same ? el("span", { class: "equal" }, "  = the computation above (float32 rounding aside)") : "");
  }

  function unitView(layer, unit) {
    const head = el("h2", {}, `${unit.class_name} unit: layer ${unit.layer}`,
      unit.kind === "dense" || unit.kind === "softmax" || unit.kind === "flatten" ? `, unit ${unit.unit}`
        : `, channel ${unit.channel}` + (unit.y !== undefined ? `, row ${unit.y}, column ${unit.x}` : ""));
    const parts = [head, el("button", { text: "Close", onclick: () => { stopAnimation(); $("#detail").classList.add("hidden"); } })];
    if (unit.computed_in_page) parts.push(el("p", { class: "hint", text: "Saved page: the products and sums are computed here from the exact arrays numcnn stored; the map's number is numcnn's own." }));
    if (unit.kind === "conv") parts.push(...convView(layer, unit));
    else if (unit.kind === "max" || unit.kind === "average") parts.push(...poolView(unit));
    else if (unit.kind === "dense") parts.push(...denseView(unit));
    else if (unit.kind === "softmax") parts.push(equation(["softmax: exp(z − max z) / Σ = ", [unit.value, "", "value"]]), checkLine(unit));
    else if (unit.kind === "flatten") parts.push(el("p", { text: unit.source ? `Reads ${unit.source.layer} channel ${unit.source.channel} at (${unit.source.y}, ${unit.source.x}) = ${fmt(unit.value, 7)}: Flatten only moves numbers.` : "Flatten only moves numbers." }), checkLine({ ...unit, tolerance: 0 }));
    else if (unit.kind === "elementwise") parts.push(el("p", {}, unit.inputs.map((i) => `${i.layer}: ${fmt(i.value, 7)}  `)),
      unit.normalization ? equation([`γ (x − mean) / √(var + ε) + β with γ ${fmt(unit.normalization.gamma)}, mean ${fmt(unit.normalization.mean)}, var ${fmt(unit.normalization.variance)}, β ${fmt(unit.normalization.beta)} = `, [unit.value, "", "value"]]) : "",
      checkLine({ ...unit, tolerance: 1e-5 * Math.abs(unit.output) + 1e-6 }));
    else parts.push(el("p", { text: `Value: ${fmt(unit.output, 7)}${unit.approx ? " (≈, 8-bit)" : ""}` }));
    return parts;
  }

  function convView(layer, unit) {
    const parts = [];
    const geometry = `kernel ${unit.kernel_size.join("×")}, stride ${unit.strides.join("×")}` +
      (unit.dilation_rate.some((d) => d > 1) ? `, dilation ${unit.dilation_rate.join("×")}` : "") +
      `, padding ${unit.pads.flat().join("/")}` + (unit.groups > 1 ? `, ${unit.groups} groups` : "");
    parts.push(el("p", { class: "hint", text: `Output (row ${unit.y}, column ${unit.x}) reads input rows ${unit.rows[0]}…${unit.rows[unit.rows.length - 1]}, columns ${unit.cols[0]}…${unit.cols[unit.cols.length - 1]} of ${unit.input} (${geometry}). Grey cells are padding (zeros).` }));
    const shown = unit.window.length;
    const cg = unit.input_channels.length;
    unit.window.forEach((win, k) => {
      const ci = unit.channel_start + k;
      parts.push(el("div", { class: "chan" },
        el("div", { class: "label", text: `input channel ${unit.input_channels[ci]}` }),
        el("div", { class: "chan-row" },
          numTable(win, { caption: "window (input)", padding: unit.padding }), el("span", { class: "op", text: "×" }),
          numTable(unit.kernel[k], { caption: `kernel [.., ${unit.input_channels[ci]}, ${unit.channel}]` }), el("span", { class: "op", text: "=" }),
          numTable(unit.products[k], { caption: "products", padding: unit.padding }), el("span", { class: "op", text: "Σ" }),
          el("span", { class: "num", title: String(unit.channel_sums[ci]), text: fmt(unit.channel_sums[ci], 6) }))));
    });
    if (cg > shown) {
      const more = (start) => () => openUnit(layer, unit.channel, unit.y, unit.x, start);
      parts.push(el("div", { class: "pager" },
        el("button", { text: "◀ channels", disabled: unit.channel_start === 0, onclick: more(Math.max(0, unit.channel_start - 8)) }),
        el("span", { text: `input channels ${unit.channel_start + 1}–${unit.channel_start + shown} of ${cg} (the sums below use all ${cg})` }),
        el("button", { text: "channels ▶", disabled: unit.channel_start + shown >= cg, onclick: more(unit.channel_start + 8) })));
    }
    const f = unit.activation;
    parts.push(equation(["Σ over ", `${cg} channel${cg > 1 ? "s" : ""} = `, [unit.sum, "", "sum"],
      unit.has_bias ? "  + bias " : "  (no bias) ", unit.has_bias ? [unit.bias, "", "bias"] : "",
      "  = pre-activation ", [unit.pre_activation, "", "pre"],
      `  → ${f}(…) = `, [unit.value, "result", "value"]]));
    parts.push(checkLine(unit));
    return parts;
  }

  function poolView(unit) {
    const padding = unit.window.map((row) => row.map((v) => v === null));
    const parts = [numTable(unit.window, { caption: `window of ${unit.input}, channel ${unit.channel}`, padding,
      winner: unit.kind === "max" ? unit.winner : null })];
    if (unit.approx) parts.push(el("div", { class: "approx", text: "≈ window values from 8-bit maps; the winner and the output are exact" }));
    if (unit.kind === "max") parts.push(equation([`max of the window: the winner at row ${unit.rows[unit.winner[0]]}, column ${unit.cols[unit.winner[1]]} = `, [unit.value, "result", "value"],
      "  (the backward pass sends the whole gradient to it)"]));
    else parts.push(equation([`mean of ${unit.count} values: `, [unit.sum, "", "sum"], ` / ${unit.count} = `, [unit.value, "result", "value"]]));
    parts.push(checkLine({ ...unit, tolerance: unit.tolerance !== undefined ? unit.tolerance : 0 }));
    return parts;
  }

  function denseView(unit) {
    const table = el("table", { class: "nums" }, el("caption", { text: `the ${unit.top.length} largest contributions w·x of ${unit.features} inputs` }),
      el("tr", {}, ["input", "from", "x", "w", "w·x"].map((t) => el("td", { text: t }))),
      unit.top.map((c) => el("tr", {}, el("td", { text: c.index }),
        el("td", { text: c.source ? `${c.source.layer} ch ${c.source.channel} (${c.source.y}, ${c.source.x})` : unit.input }),
        el("td", { text: fmt(c.x) }), el("td", { text: fmt(c.w) }), el("td", { text: fmt(c.product) }))));
    const parts = [table, equation(["positive w·x ", [unit.positive_sum], " + negative w·x ", [unit.negative_sum], " = Σ ",
      [unit.sum, "", "sum"], " + bias ", [unit.bias, "", "bias"], " = ", [unit.pre_activation, "", "pre"],
      `  → ${unit.activation}(…) = `, [unit.value, "result", "value"]])];
    parts.push(checkLine(unit));
    return parts;
  }

  // the kernel sliding over the input, step by step
  async function animationView(layer, unit) {
    const steps = await state.source.sliding(layer.name, unit.channel);
    const inputName = unit.input;
    const inputLayer = state.layers.find((l) => l.name === inputName);
    const inputChannel = unit.kind === "conv" ? unit.input_channels[unit.channel_start] : unit.channel;
    const page = await state.source.maps(inputName, inputChannel, 1);
    const inValues = page.get(0);
    const [ih, iw] = steps.input_hw, [oh, ow] = steps.output_hw;
    const pads = steps.pads;
    const ph = ih + pads[0][0] + pads[0][1], pw = iw + pads[1][0] + pads[1][1];
    const scale = Math.max(4, Math.min(24, Math.floor(260 / Math.max(ph, pw))));
    const oscale = Math.max(4, Math.min(24, Math.floor(260 / Math.max(oh, ow))));
    const inCanvas = el("canvas", { width: pw * scale, height: ph * scale });
    const outCanvas = el("canvas", { width: ow * oscale, height: oh * oscale });
    const base = paint(el("canvas"), inValues, ih, iw, page.vmin, page.vmax, inputLayer && inputLayer.name === "input" ? "gray" : "viridis");
    const [ovmin, ovmax] = rangeOf(steps.values);
    const text = el("span", { class: "step-text" });
    let k = unit.y * ow + unit.x;
    const [kh, kw] = steps.kernel_size, [dh, dw] = steps.dilation_rate;
    function draw() {
      const ctx = inCanvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.fillStyle = "#d9dde2";
      ctx.fillRect(0, 0, inCanvas.width, inCanvas.height);
      ctx.drawImage(base, pads[1][0] * scale, pads[0][0] * scale, iw * scale, ih * scale);
      const [i, j, top, left] = steps.steps[k];
      ctx.strokeStyle = "#ff7b00"; ctx.lineWidth = 2;
      for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
        ctx.strokeRect((left + pads[1][0] + b * dw) * scale + 1, (top + pads[0][0] + a * dh) * scale + 1, scale - 2, scale - 2);
      }
      const octx = outCanvas.getContext("2d");
      octx.fillStyle = "#f1f3f5";
      octx.fillRect(0, 0, outCanvas.width, outCanvas.height);
      for (let s = 0; s <= k; s++) {
        const [si, sj] = steps.steps[s];
        octx.fillStyle = colourOf(steps.values[s], ovmin, ovmax);
        octx.fillRect(sj * oscale, si * oscale, oscale, oscale);
      }
      octx.strokeStyle = "#ff7b00"; octx.lineWidth = 2;
      octx.strokeRect(j * oscale + 1, i * oscale + 1, oscale - 2, oscale - 2);
      text.textContent = `step ${k + 1} / ${steps.total}: output (${i}, ${j}) = ${fmt(steps.values[k], 6)}`;
    }
    const speed = el("input", { type: "range", min: 1, max: 30, value: 6, title: "steps a second" });
    const play = el("button", { text: "▶ play" });
    const stepTo = (n) => { k = (n + steps.total) % steps.total; draw(); };
    play.addEventListener("click", () => {
      if (state.animation) { stopAnimation(); return; }
      play.textContent = "⏸ pause";
      const tick = () => {
        stepTo(k + 1);
        state.animation = setTimeout(tick, 1000 / Number(speed.value));
      };
      state.animation = setTimeout(tick, 1000 / Number(speed.value));
      state.animationButton = play;
    });
    draw();
    return el("div", { class: "panel" }, el("h3", { text: "The window sliding over the input" }),
      el("p", { class: "hint", text: `Left: ${inputName}, channel ${inputChannel} (grey border: padding). Right: ${unit.layer}, channel ${unit.channel}, filled in step by step.` }),
      el("div", { class: "anim" }, inCanvas, outCanvas),
      el("div", { class: "controls" },
        el("button", { text: "|◀", title: "first step", onclick: () => stepTo(0) }),
        el("button", { text: "◀", title: "step back", onclick: () => stepTo(k - 1) }), play,
        el("button", { text: "▶|", title: "step forward", onclick: () => stepTo(k + 1) }),
        el("label", {}, "speed ", speed),
        el("button", { text: "numbers of this step", onclick: () => { const [i, j] = steps.steps[k]; openUnit(layer, unit.channel, i, j); } }),
        text));
  }

  function stopAnimation() {
    if (state.animation) clearTimeout(state.animation);
    state.animation = null;
    if (state.animationButton) state.animationButton.textContent = "▶ play";
  }

  function matrixCanvas(rows, highlightRow, highlightCol, cmap = "RdBu_r") {
    const h = rows.length, w = rows[0].length;
    const flat = new Float32Array(h * w);
    rows.forEach((r, a) => r.forEach((v, b) => { flat[a * w + b] = v; }));
    const [lo, hi] = rangeOf(flat);
    const bound = Math.max(Math.abs(lo), Math.abs(hi));
    const base = lo >= 0 ? paint(el("canvas"), flat, h, w, 0, hi, "viridis") : paint(el("canvas"), flat, h, w, -bound, bound, cmap);
    const s = Math.max(3, Math.min(16, Math.floor(480 / w)));
    const canvas = el("canvas", { width: w * s, height: h * s });
    const ctx = canvas.getContext("2d");
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(base, 0, 0, w * s, h * s);
    ctx.strokeStyle = "#ff7b00"; ctx.lineWidth = 2;
    if (highlightRow !== null) ctx.strokeRect(1, highlightRow * s + 1, w * s - 2, s - 2);
    if (highlightCol !== null) ctx.strokeRect(highlightCol * s + 1, 1, s - 2, h * s - 2);
    return canvas;
  }

  async function im2colView(layer, unit) {
    const ow = layer.output_shape[layer.data_format === "channels_first" ? 2 : 1];
    const row = unit.y * ow + unit.x;
    const start = Math.max(0, row - 4);
    const page = await state.source.im2col(layer.name, start, 9);
    const r = row - page.start;
    const fg = page.shape.kernel_matrix[1];
    const col = unit.channel % fg;
    const K = page.shape.patches[1];
    const patch = page.patches[r], column = page.kernel_matrix.map((kr) => kr[col]);
    const parts = [el("h3", { text: "im2col: the whole layer as one matrix multiply" }),
      el("p", { text: `patches (${page.rows} × ${K}) · kernel matrix (${K} × ${fg}) + bias = outputs (${page.rows} × ${fg})${page.groups > 1 ? ` for group ${page.group} of ${page.groups}` : ""}. ` +
        `Row ${row} of the patch matrix is output position (${unit.y}, ${unit.x}) unrolled; column ${col} of the kernel matrix is filter ${unit.channel}.` }),
      el("div", { class: "mats" },
        el("figure", {}, el("figcaption", { text: `patch matrix, rows ${page.start}–${page.start + page.patches.length - 1}` }), el("div", { class: "scroll" }, matrixCanvas(page.patches, r, null))),
        el("figure", {}, el("figcaption", { text: `kernel matrix (${K} × ${fg}${page.kernel_matrix[0].length < fg ? `, first ${page.kernel_matrix[0].length} columns` : ""})` }), el("div", { class: "scroll" }, matrixCanvas(page.kernel_matrix, null, col < page.kernel_matrix[0].length ? col : null)))),
    ];
    if (K <= 75) {
      parts.push(el("div", { class: "scroll" }, el("table", { class: "nums" },
        el("caption", { text: `row ${row} of the patches and column ${col} of the kernel matrix` }),
        el("tr", {}, el("td", { text: "patch" }), patch.map((v) => el("td", { text: fmt(v, 3), title: String(v) }))),
        el("tr", {}, el("td", { text: "kernel" }), column.map((v) => el("td", { text: fmt(v, 3), title: String(v) }))))));
    }
    const product = col < page.product[r].length ? page.product[r][col] : null;
    parts.push(equation(["patch row · kernel column + bias = ", [product, "", "im2col"],
      `  → ${page.activation || "linear"}(…) = the map's `, [col < page.output[r].length ? page.output[r][col] : null, "result"]]));
    return el("div", { class: "panel im2col" }, parts);
  }

  // ---------------------------------------------------------------- backward
  async function renderBackward() {
    const names = state.prediction.class_names;
    if (state.gradClass === null || state.gradClass >= names.length) state.gradClass = state.prediction.predicted;
    const s = await state.source.saliency(state.gradClass);
    state.gradClass = s.class_index;
    const buttons = $("#class-buttons");
    buttons.replaceChildren(...names.slice(0, 50).map((name, k) => el("button", {
      text: name, class: k === s.class_index ? "active" : null, disabled: !s.canChoose && k !== s.class_index,
      onclick: () => { state.gradClass = k; state.gradPages = {}; renderBackward(); },
    })));
    if (!s.canChoose) buttons.append(el("span", { class: "hint", text: " (a saved page holds the gradients of the predicted class only)" }));
    const box = $("#saliency");
    const figure = (title, canvas) => el("figure", {}, el("figcaption", { text: title }), canvas);
    const [h, w] = s.saliency_map.shape;
    const items = [];
    if (s.picture) {
      const pic = s.picture;
      const grey = new Float32Array(h * w);
      const c = pic.shape[2];
      for (let i = 0; i < h * w; i++) grey[i] = c === 3 ? (pic.data[3 * i] + pic.data[3 * i + 1] + pic.data[3 * i + 2]) / 3 : pic.data[i * c];
      items.push(figure("the input", paint(el("canvas"), grey, h, w, 0, 1, "gray")));
    }
    const [, smax] = rangeOf(s.saliency_map.data);
    items.push(figure("saliency |dLoss/dinput|", paint(el("canvas"), s.saliency_map.data, h, w, 0, smax, "gray")));
    const inputLayer = state.layers.find((l) => l.name === "input");
    const acc = channelAccessor(s.input_gradient, inputLayer ? inputLayer.data_format : "channels_last");
    const [glo, ghi] = rangeOf(s.input_gradient.data);
    const gb = Math.max(Math.abs(glo), Math.abs(ghi));
    for (let c = 0; c < Math.min(acc.channels, 3); c++) items.push(figure(`dLoss/dinput, channel ${c}`, paint(el("canvas"), acc.get(c), h, w, -gb, gb, "RdBu_r")));
    items.push(el("div", {}, el("div", { class: "label", text: `class ${names[s.class_index]}` }),
      el("div", { class: "formula", text: `loss = ${fmt(s.loss, 6)}` }), scaleBar(-gb, gb, "RdBu_r")));
    box.replaceChildren(...items);
    const reached = new Set(s.layers.map((l) => l.name));
    const columns = await Promise.all(state.layers.filter((l) => reached.has(l.name) && l.name !== "input").map((l) => layerColumn(l, true)));
    $("#grad-columns").replaceChildren(...columns.filter(Boolean));
  }

  // ---------------------------------------------------------------- inputs
  async function renderTestImages() {
    const f = state.testFilter;
    let page;
    try {
      page = await state.source.testImages(f.label === "" ? null : Number(f.label), f.mistakes, f.start, 48);
    } catch (e) {
      $("#test-grid").replaceChildren(el("p", { class: "hint", text: e.message }));
      return;
    }
    const names = state.info.info.class_names;
    $("#test-grid").replaceChildren(...page.items.map((item) => el("button", {
      class: `thumb${item.label !== item.predicted ? " wrong" : ""}`, dataset: { index: item.index },
      title: `test image ${item.index}: true ${names[item.label]} → predicted ${names[item.predicted]} (${pct(item.confidence)})`,
      onclick: () => useInput(() => state.source.select(item.index)),
    }, el("img", { src: state.source.thumb(item.index), alt: `test image ${item.index}` }),
      el("span", { class: "tlabel", text: item.label === item.predicted ? names[item.label] : `${names[item.label]}→${names[item.predicted]}` }))));
    const pager = $("#test-pager");
    pager.replaceChildren(
      el("button", { text: "◀", disabled: f.start === 0, onclick: () => { f.start = Math.max(0, f.start - 48); renderTestImages(); } }),
      el("span", { text: page.total ? `${f.start + 1}–${f.start + page.items.length} of ${page.total}` : "none" }),
      el("button", { text: "▶", disabled: f.start + 48 >= page.total, onclick: () => { f.start += 48; renderTestImages(); } }));
  }

  // make an input current, then redraw everything
  async function useInput(call) {
    const t0 = performance.now();
    const seq = ++state.inputSeq;
    let prediction;
    try {
      prediction = await call();
      if (seq !== state.inputSeq) return; // a newer input is on its way
    } catch (e) { showError(e.message); return; }
    showError("");
    renderPrediction(prediction);
    await refreshViews();
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    state.redrawMs = performance.now() - t0; // for benchmarks/explain_latency.py
    document.body.dataset.redraws = String((Number(document.body.dataset.redraws) || 0) + 1);
    if (prediction.source && prediction.source.startsWith("test:")) {
      const index = Number(prediction.source.slice(5));
      $$(".thumb").forEach((t) => t.classList.toggle("selected", Number(t.dataset.index) === index));
    }
  }

  async function refreshViews() {
    stopAnimation();
    if (!(await loadLayers())) return;
    state.selected = null;
    $("#detail").classList.add("hidden");
    if (state.view === "backward") await renderBackward();
    else await renderNetwork();
    if (state.source.mode === "server") showModelInput();
  }

  function showModelInput() {
    const p = state.prediction;
    if (!p || p.source === "sample") return;
    const img = el("img", { src: state.source.pictureUrl(), alt: "the picture the model is shown" });
    img.style.width = "112px"; img.style.imageRendering = "pixelated";
    $("#model-input").replaceChildren(el("div", { class: "hint", text: "What the model is shown:" }), img);
  }

  function setupDrawing() {
    const canvas = $("#draw-canvas");
    const ctx = canvas.getContext("2d");
    const clear = () => { ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height); };
    clear();
    let drawing = false, last = null, inFlight = false, pending = false;
    const pos = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * canvas.width / r.width, (e.clientY - r.top) * canvas.height / r.height]; };
    async function send() {
      if (inFlight) { pending = true; return; }
      inFlight = true; pending = false; state.drawBusy = true;
      const image = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      const grey = new Uint8Array(canvas.width * canvas.height);
      for (let i = 0; i < grey.length; i++) grey[i] = image[4 * i];
      let text = "";
      for (let i = 0; i < grey.length; i += 8192) text += String.fromCharCode.apply(null, grey.subarray(i, i + 8192));
      const b64 = btoa(text);
      state.lastDrawing = { width: canvas.width, height: canvas.height, uint8: b64 };
      const t0 = performance.now();
      state.inputSeq++;
      try {
        const p = await state.source.draw(canvas.width, canvas.height, b64, $("#invert").value);
        state.lastDrawing.prediction = p;
        renderPrediction(p);
        state.lastDrawing.ms = performance.now() - t0;
        (state.strokeMs = state.strokeMs || []).push(state.lastDrawing.ms);
        if (!drawing || !pending) refreshViews();
      } catch (e) { showError(e.message); }
      inFlight = false;
      state.drawBusy = pending;
      if (pending) send();
      else document.body.dataset.drawn = String((Number(document.body.dataset.drawn) || 0) + 1);
    }
    canvas.addEventListener("pointerdown", (e) => {
      drawing = true; last = pos(e); canvas.setPointerCapture(e.pointerId);
      ctx.fillStyle = "#000"; ctx.beginPath(); ctx.arc(last[0], last[1], $("#pen-size").value / 2, 0, 2 * Math.PI); ctx.fill();
      send();
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!drawing) return;
      const p = pos(e);
      ctx.strokeStyle = "#000"; ctx.lineWidth = Number($("#pen-size").value); ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath(); ctx.moveTo(last[0], last[1]); ctx.lineTo(p[0], p[1]); ctx.stroke();
      last = p;
      send();
    });
    const end = () => { if (drawing) { drawing = false; send(); } };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    $("#draw-clear").addEventListener("click", clear);
  }

  function setupUpload() {
    const input = $("#upload-file");
    const go = (file) => file && useInput(() => state.source.upload(file, $("#invert").value));
    input.addEventListener("change", () => go(input.files[0]));
    const drop = $("#drop");
    drop.addEventListener("dragover", (e) => e.preventDefault());
    drop.addEventListener("drop", (e) => { e.preventDefault(); go(e.dataTransfer.files[0]); });
  }

  // ---------------------------------------------------------------- live training
  function lineChart(canvas, series, { yRange = null, totalEpochs = null } = {}) {
    const ratio = window.devicePixelRatio || 1;
    const W = canvas.clientWidth || 400, H = canvas.clientHeight || 260;
    canvas.width = W * ratio; canvas.height = H * ratio;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.clearRect(0, 0, W, H);
    const all = series.flatMap((s) => s.points);
    const m = { l: 58, r: 12, t: 12, b: 64 };
    ctx.font = "14px system-ui, sans-serif";
    ctx.fillStyle = "#59636e";
    if (!all.length) { ctx.fillText("no data yet", W / 2 - 40, H / 2); return; }
    let x1 = Math.max(1, totalEpochs || 0, ...all.map((p) => p[0]));
    let [y0, y1] = yRange || [Math.min(...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))];
    if (!yRange) { const pad = (y1 - y0) * 0.08 || 0.1; y0 = Math.max(0, y0 - pad); y1 += pad; }
    const X = (x) => m.l + (x / x1) * (W - m.l - m.r), Y = (y) => H - m.b - ((y - y0) / (y1 - y0)) * (H - m.t - m.b);
    ctx.strokeStyle = "#d5dae0"; ctx.lineWidth = 1;
    ctx.textAlign = "center";
    const every = Math.max(1, Math.ceil(x1 / 10));
    for (let e = 0; e <= x1; e += every) { ctx.beginPath(); ctx.moveTo(X(e), m.t); ctx.lineTo(X(e), H - m.b); ctx.stroke(); ctx.fillText(String(e), X(e), H - m.b + 16); }
    ctx.textAlign = "right";
    ctx.fillText("epoch", m.l - 12, H - m.b + 16);
    ctx.textAlign = "right";
    for (let k = 0; k <= 4; k++) { const y = y0 + (k / 4) * (y1 - y0); ctx.beginPath(); ctx.moveTo(m.l, Y(y)); ctx.lineTo(W - m.r, Y(y)); ctx.stroke(); ctx.fillText(fmt(y, 3), m.l - 6, Y(y) + 5); }
    let legendX = m.l, legendY = H - m.b + 40;
    for (const s of series) {
      ctx.strokeStyle = s.color; ctx.fillStyle = s.color; ctx.lineWidth = s.dots ? 2 : 1.6;
      if (!s.dots) { ctx.beginPath(); s.points.forEach((p, i) => (i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1])))); ctx.stroke(); }
      else { s.points.forEach((p, i) => { ctx.beginPath(); ctx.arc(X(p[0]), Y(p[1]), 4, 0, 7); ctx.fill(); if (i) { ctx.beginPath(); ctx.moveTo(X(s.points[i - 1][0]), Y(s.points[i - 1][1])); ctx.lineTo(X(p[0]), Y(p[1])); ctx.stroke(); } }); }
      if (s.points.length) {
        const width = ctx.measureText(s.name).width + 36;
        if (legendX + width > W - m.r) { legendX = m.l + 8; legendY += 18; }
        ctx.textAlign = "left"; ctx.fillRect(legendX, legendY - 6, 14, 4); ctx.fillStyle = "#1b1f24";
        ctx.fillText(s.name, legendX + 18, legendY); legendX += width;
      }
    }
    canvas.dataset.points = String(all.length);
  }

  function renderCharts() {
    const live = state.live;
    const steps = state.steps;
    const per = state.stepsPerEpoch || (live && live.steps_per_epoch) || 1;
    const history = state.info && state.info.history;
    const epochs = live && live.epochs && live.epochs.length ? live.epochs.map((e) => ({ epoch: e.epoch + 1, ...e.logs }))
      : history ? history.epoch.map((e, k) => Object.fromEntries(Object.keys(history).map((key) => [key, history[key][k]]))) : [];
    const x = (s) => (s.epoch || 0) + (s.step + 1) / per;
    const total = live && live.total_epochs;
    const series = (key, name, color) => ({ name, color, points: steps.filter((s) => s[key] !== null && s[key] !== undefined).map((s) => [x(s), s[key]]) });
    const dots = (key, name, color) => ({ name, color, dots: true, points: epochs.filter((e) => e[key] !== undefined && e[key] !== null).map((e) => [e.epoch, e[key]]) });
    lineChart($("#chart-loss"), [series("loss", "training loss (running mean)", "#2156c9"), dots("loss", "epoch loss", "#12161c"), dots("val_loss", "validation loss", "#c4282d")], { totalEpochs: total });
    lineChart($("#chart-accuracy"), [series("accuracy", "training accuracy (running mean)", "#2156c9"), dots("accuracy", "epoch accuracy", "#12161c"), dots("val_accuracy", "validation accuracy", "#c4282d")], { yRange: [0, 1], totalEpochs: total });
  }

  const STATUS_TEXT = {
    running: "training is running", finished: "training finished", killed: "the training process was killed (no end record, and it is gone or silent)",
    stopped: "training stopped (diverged or stopped early)", failed: "training failed with an error", interrupted: "training was interrupted (Ctrl+C)",
    none: "no live log: the run's history is shown",
  };

  function renderLiveStatus() {
    const live = state.live;
    const box = $("#live-status");
    const badge = $("#live-badge");
    if (!live) {
      box.replaceChildren(el("span", { text: "This is a saved page: live training needs the server (numcnn explain RUN_DIR)." }));
      badge.classList.add("hidden");
      return;
    }
    const done = live.epochs ? live.epochs.length : 0;
    const lastStep = state.steps[state.steps.length - 1];
    box.replaceChildren(el("span", { class: `state ${live.status}`, dataset: { status: live.status }, text: STATUS_TEXT[live.status] || live.status }),
      el("span", { text: `  ·  ${done}${live.total_epochs ? ` of ${live.total_epochs}` : ""} epochs done` }),
      lastStep && live.status === "running" ? el("span", { text: `  ·  epoch ${lastStep.epoch + 1}, step ${lastStep.step + 1}${state.stepsPerEpoch ? ` of ${state.stepsPerEpoch}` : ""}` }) : "",
      live.waiting ? el("span", { text: "  ·  waiting for the first epoch's checkpoint" }) : "",
      live.end && live.end.reason && live.status !== "finished" ? el("div", { class: "hint", text: live.end.reason }) : "");
    badge.textContent = live.status === "none" ? "" : `training: ${live.status}`;
    badge.className = `badge ${live.status}`;
    badge.classList.toggle("hidden", live.status === "none");
    $("#snapshot").dataset.epochs = String(done);
  }

  async function renderSnapshot() {
    if (state.source.mode !== "server" || !state.info.info) return;
    let snap;
    try { snap = await state.source.snapshot(); } catch (e) { return; }
    const box = $("#snapshot");
    const parts = [];
    const epochs = state.live && state.live.epochs ? state.live.epochs.length : 0;
    if (snap.filters) {
      const k = decode(snap.filters.kernels);
      const [n, kh, kw, c] = k.shape;
      const [lo, hi] = rangeOf(k.data);
      const bound = Math.max(Math.abs(lo), Math.abs(hi));
      const grid = el("div", { class: "filters" });
      for (let f = 0; f < n; f++) {
        const values = new Float32Array(kh * kw);
        for (let i = 0; i < kh * kw; i++) values[i] = k.data[(f * kh * kw + i) * c];
        grid.append(paint(el("canvas", { title: `filter ${f}` }), values, kh, kw, -bound, bound, "RdBu_r"));
      }
      parts.push(el("div", { class: "panel" }, el("h3", { text: `Filters of ${snap.filters.layer} (${kh}×${kw}${c > 1 ? ", first input channel" : ""}), after epoch ${epochs}` }), grid, scaleBar(-bound, bound, "RdBu_r")));
    }
    if (snap.samples.length) {
      const names = state.info.info.class_names;
      const rows = snap.samples.map((s) => {
        const pic = decode(s.picture);
        const [h, w, c] = pic.shape;
        const grey = new Float32Array(h * w);
        for (let i = 0; i < h * w; i++) grey[i] = pic.data[i * c];
        const row = el("div", { class: "sample" }, paint(el("canvas", { class: "pic" }), grey, h, w, 0, 1, "gray"),
          el("span", { class: s.label === s.predicted ? "" : "approx", text: `${names[s.label]} → ${names[s.predicted]}` }));
        if (s.maps) {
          const m = decode(s.maps);
          const [n, mh, mw] = m.shape;
          const [lo, hi] = rangeOf(m.data);
          for (let k = 0; k < Math.min(n, 12); k++) row.append(paint(el("canvas"), m.data.subarray(k * mh * mw, (k + 1) * mh * mw), mh, mw, lo, hi));
        }
        return row;
      });
      parts.push(el("div", { class: "panel" }, el("h3", { text: `Fixed test images and their first feature maps, after epoch ${epochs}` }), rows));
    }
    if (snap.confusion) {
      const c = snap.confusion;
      const table = el("table", { class: "confusion" }, el("tr", {}, el("th", { text: "true ↓ / predicted →" }), c.class_names.map((n) => el("th", { text: n }))));
      c.normalized.forEach((row, i) => table.append(el("tr", {}, el("th", { text: c.class_names[i] }), row.map((v, j) => {
        const cell = el("td", { text: v ? (100 * v).toFixed(0) : "", title: `${c.counts[i][j]} images: true ${c.class_names[i]}, predicted ${c.class_names[j]}` });
        cell.style.background = i === j ? `rgba(33, 86, 201, ${v})` : `rgba(196, 40, 45, ${Math.min(1, 3 * v)})`;
        if ((i === j && v > 0.55) || (i !== j && v > 0.2)) cell.style.color = "#fff";
        return cell;
      }))));
      parts.push(el("div", { class: "panel" }, el("h3", { text: `Confusion matrix, % of each true class (${c.images} test images, accuracy ${pct(c.accuracy)})` }),
        el("p", { class: "hint", text: "Rows sum to 100%: every red cell is a kind of mistake." }), table));
    }
    box.replaceChildren(...parts);
    box.dataset.version = String(snap.model_version);
  }

  function connectLive() {
    const events = new EventSource("/api/events");
    events.addEventListener("status", (e) => { state.live = JSON.parse(e.data); renderLiveStatus(); renderCharts(); });
    events.addEventListener("steps", (e) => {
      const d = JSON.parse(e.data);
      state.steps.push(...d.steps);
      state.stepsPerEpoch = d.steps_per_epoch;
      if (state.view === "live") renderCharts();
      renderLiveStatus();
    });
    events.addEventListener("epoch", async (e) => {
      const first = !state.info.info;
      state.live = JSON.parse(e.data);
      renderLiveStatus();
      renderCharts();
      if (first) { await start(); return; }
      await refreshViews();
      await renderSnapshot();
      document.body.dataset.modelVersion = String(state.live.model_version);
    });
    state.events = events;
  }

  // ---------------------------------------------------------------- tabs and start
  function setupTabs(nav, onChange) {
    const buttons = $$("button", nav);
    const bodies = $$(".tab-body", nav.parentElement).filter((b) => b.parentElement === nav.parentElement);
    buttons.forEach((button) => button.addEventListener("click", () => {
      buttons.forEach((b) => b.classList.toggle("active", b === button));
      bodies.forEach((b) => b.classList.toggle("hidden", b.dataset.body !== button.dataset.tab));
      onChange && onChange(button.dataset.tab);
    }));
  }

  async function start() {
    const info = await state.source.info();
    state.info = info;
    setColormaps(info.colormaps);
    state.live = info.live;
    renderLiveStatus();
    if (!info.info) {
      $("#title-model").textContent = "waiting for the first epoch…";
      $$('#view-tabs button[data-tab="live"]')[0].click();
      return;
    }
    const i = info.info;
    $("#title-model").textContent = `${i.model} · ${i.dataset || "model"} · input ${i.input_shape ? i.input_shape.join("×") : "?"} · ${i.parameters.toLocaleString("en")} parameters`;
    const filter = $("#class-filter");
    filter.replaceChildren(el("option", { value: "", text: "all" }), ...i.class_names.map((n, k) => el("option", { value: k, text: n })));
    await loadLayers();
    await renderNetwork();
    if (info.test_count) await renderTestImages();
    else $("#test-grid").replaceChildren(el("p", { class: "hint", text: info.test_error || "no test images" }));
    if (state.source.mode === "server") { renderSnapshot(); showModelInput(); }
    renderCharts();
    if (state.live && state.live.status === "running" && !start.once) $$('#view-tabs button[data-tab="live"]')[0].click();
    start.once = true;
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    state.readyAt = performance.now(); // since navigation started: the first meaningful paint
    document.body.dataset.ready = "1";
  }

  async function main() {
    const bundleNode = document.getElementById("numcnn-bundle");
    if (bundleNode) {
      state.source = new BundleSource(JSON.parse(bundleNode.textContent));
      $("#mode-badge").textContent = "saved page";
      const notice = $("#notice");
      notice.textContent = "This is a saved page (numcnn explain --html): it shows the test images stored in it. Upload, drawing and live training need the server: numcnn explain RUN_DIR.";
      notice.classList.remove("hidden");
      $$('#input-tabs button[data-tab="draw"], #input-tabs button[data-tab="upload"]').forEach((b) => { b.disabled = true; b.title = "needs the server: numcnn explain RUN_DIR"; });
    } else {
      state.source = new ServerSource();
      $("#mode-badge").textContent = "live server";
    }
    setupTabs($("#input-tabs"));
    setupTabs($("#view-tabs"), async (tab) => {
      state.view = tab;
      try {
        if (tab === "backward") await renderBackward();
        if (tab === "network") await renderNetwork();
        if (tab === "live") { renderCharts(); if (state.source.mode === "server") renderSnapshot(); }
      } catch (e) { showError(e.message); }
    });
    $("#class-filter").addEventListener("change", (e) => { state.testFilter.label = e.target.value; state.testFilter.start = 0; renderTestImages(); });
    $("#mistakes").addEventListener("change", (e) => { state.testFilter.mistakes = e.target.checked; state.testFilter.start = 0; renderTestImages(); });
    if (state.source.mode === "server") { setupDrawing(); setupUpload(); }
    try {
      await start();
    } catch (e) { showError(e.message); }
    if (state.source.mode === "server") connectLive();
  }

  document.addEventListener("DOMContentLoaded", main);
})();
