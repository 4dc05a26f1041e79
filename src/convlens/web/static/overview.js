// convlens explorer, the overview: the whole network as columns, one colour scale per layer,
// hover links to what a map (or class) is computed from. Plain JS, canvas and SVG.
"use strict";
window.CL = window.CL || {};

(function () {
  const lutCache = new Map();

  function decode(b64) {
    const s = atob(b64), a = new Uint8Array(s.length);
    for (let k = 0; k < s.length; k++) a[k] = s.charCodeAt(k);
    return a;
  }

  // byte -> RGBA: values lo..hi; diverging blue-white-red around 0 when the scale crosses 0,
  // white -> blue when it does not; the input in gray (or its own colour for R, G, B).
  // `range`: the values the colours span (default lo..hi: the layer's own scale)
  function lut(lo, hi, tint, range) {
    const key = `${lo},${hi},${tint},${range}`;
    if (lutCache.has(key)) return lutCache.get(key);
    const t = new Uint8ClampedArray(256 * 4);
    const vlo = lo, vhi = hi;
    if (range) [lo, hi] = range;
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    for (let b = 0; b < 256; b++) {
      const v = Math.max(lo, Math.min(hi, vlo + (b / 255) * (vhi - vlo)));
      let r, g, bl;
      if (tint !== undefined) {
        const f = hi > lo ? (v - lo) / (hi - lo) : 0;
        [r, g, bl] = tint.map((c) => Math.round(255 * f * c));
      } else if (lo < 0 && hi > 0) {
        const f = Math.min(1, Math.abs(v) / m);
        [r, g, bl] = v >= 0 ? [255, 255 - 200 * f, 255 - 215 * f] : [255 - 215 * f, 255 - 160 * f, 255];
      } else {
        const f = hi > lo ? (v - lo) / (hi - lo) : 0;
        [r, g, bl] = [255 - 230 * f, 255 - 180 * f, 255 - 100 * f];
      }
      t.set([r, g, bl, 255], 4 * b);
    }
    lutCache.set(key, t);
    return t;
  }
  const TINTS = { R: [1, 0.15, 0.15], G: [0.15, 1, 0.15], B: [0.25, 0.35, 1] };

  function tintOf(col, c) {
    if (col.kind !== "input") return undefined;
    return col.channels.length === 3 ? TINTS[col.channels[c]] : [1, 1, 1];
  }

  function paint(canvas, bytes, offset, h, w, table) {
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w, h);
    for (let p = 0; p < h * w; p++) img.data.set(table.subarray(4 * bytes[offset + p], 4 * bytes[offset + p] + 4), 4 * p);
    ctx.putImageData(img, 0, 0);
  }

  function legend(col, range) {
    const wrap = document.createElement("div");
    wrap.className = "legend";
    if (range === "map") {
      wrap.textContent = "each map on its own scale";
      return wrap;
    }
    if (range) col = { ...col, lo: range[0], hi: range[1] };
    const c = document.createElement("canvas");
    c.width = 64; c.height = 1;  // drawn 32 px wide (CSS)
    const bytes = new Uint8Array(64).map((_, k) => Math.round((k * 255) / 63));
    // the input's channels are drawn in their own brightness (tinted R, G, B for colour): a gray legend
    paint(c, bytes, 0, 1, 64, lut(col.lo, col.hi, col.kind === "input" ? [1, 1, 1] : undefined));
    wrap.append(fmt(col.lo), c, fmt(col.hi));
    return wrap;
  }
  const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));

  // Column sizes for the space there is: every column gets its share of the pane's width;
  // a map column puts as many maps side by side as keep them at least MIN_S px and scrolls
  // (most active first) when they do not fit the height; a network too wide even at the
  // smallest size is scaled down to fit (the zoom menu enlarges it instead).
  const MIN_S = 30, MAX_S = 112, GAP = 12, BARS_W = 64, SOFTMAX_W = 186, MIN_COL = 44;

  function plan(ov, width, height, zoom) {
    const maps = ov.columns.filter((c) => c.shape.length === 3).length;
    const fixed = (ov.columns.length - maps) * BARS_W + SOFTMAX_W + GAP * ov.columns.length + 14;
    const share = Math.floor((width - fixed) / Math.max(1, maps));
    const colW = Math.max(MIN_COL, Math.min(4 * MAX_S, share)) * (zoom || 1);
    const total = fixed + maps * colW;
    return { colW, height, scale: zoom ? 1 : Math.min(1, width / total) };
  }

  function thumbSize(n, colW, height) {
    let best = null;
    for (let k = 1; k <= 6; k++) {
      const s = Math.min(MAX_S, Math.floor((colW - 2 * (k - 1)) / k) - 2);
      if (s < MIN_S && k > 1) break;
      if (Math.ceil(n / k) * (s + 4) <= height) return [s, k, false];
      if (s >= 36 || k === 1) best = [s, k, true];  // scrolls: keep the maps readable
    }
    return best;
  }

  // how active each map is (mean of |value| on the column's scale): the order of a column
  function activity(col, bytes) {
    const [n, h, w] = col.shape, span = (col.hi - col.lo) / 255, out = [];
    for (let c = 0; c < n; c++) {
      let t = 0;
      for (let p = c * h * w; p < (c + 1) * h * w; p++) t += Math.abs(col.lo + bytes[p] * span);
      out.push(t / (h * w));
    }
    return out;
  }

  const bytesOf = (col) => col.bytes || (col.bytes = decode(col.data));
  // the value of pixel (i, j) of map c of a column (to within its uint8 step)
  CL.valueAt = function (col, c, i, j) {
    const [, h, w] = col.shape;
    return col.lo + bytesOf(col)[c * h * w + i * w + j] * (col.hi - col.lo) / 255;
  };

  // the colours of map c: on the layer's scale, the whole network's, or its own
  function rangeOf(col, bytes, c, scale) {
    if (col.kind === "input" || scale === "layer") return undefined;
    if (scale !== "map") return scale;
    const [, h, w] = col.shape;
    let a = 255, b = 0;
    for (let p = c * h * w; p < (c + 1) * h * w; p++) { a = Math.min(a, bytes[p]); b = Math.max(b, bytes[p]); }
    const span = (col.hi - col.lo) / 255;
    return b > a ? [col.lo + a * span, col.lo + b * span] : undefined;
  }

  function mapsColumn(col, size, scale) {
    const [n, h, w] = col.shape;
    const bytes = bytesOf(col);
    const [s, cols, scrolls] = thumbSize(n, size.colW, size.height);
    const grid = document.createElement("div");
    grid.className = "maps" + (scrolls ? " scrolls" : "");
    grid.style.gridTemplateColumns = `repeat(${cols}, ${s + 2}px)`;
    if (scrolls) grid.style.maxHeight = `${size.height}px`;
    const act = col.kind === "input" ? null : activity(col, bytes);
    const order = [...Array(n).keys()];
    if (act) order.sort((a, b) => act[b] - act[a]);
    for (const c of order) {
      const cv = document.createElement("canvas");
      cv.width = w; cv.height = h;
      cv.style.width = cv.style.height = `${s}px`;
      cv.dataset.map = `${col.name}:${c}`;
      cv.title = `${col.name} ${col.channels ? col.channels[c] : "map " + c}` + (act ? `, mean |value| ${act[c].toFixed(3)}` : "");
      paint(cv, bytes, c * h * w, h, w, lut(col.lo, col.hi, tintOf(col, c), rangeOf(col, bytes, c, scale)));
      grid.append(cv);
    }
    grid.scrolls = scrolls;
    return grid;
  }

  function barsColumn(col, size) {
    const n = col.values.length;
    const rowH = Math.max(1, Math.min(14, Math.floor(size.height / n)));
    const cv = document.createElement("canvas");
    cv.className = "bars";
    cv.width = 60; cv.height = rowH * n;
    cv.dataset.vector = col.name;
    const ctx = cv.getContext("2d");
    const m = Math.max(Math.abs(col.lo), Math.abs(col.hi)) || 1;
    const zero = col.lo < 0 ? 30 : 0;
    col.values.forEach((v, k) => {
      ctx.fillStyle = v >= 0 ? "#2f6db5" : "#c0392b";
      const len = ((col.lo < 0 ? 30 : 60) * Math.abs(v)) / m;
      ctx.fillRect(v >= 0 ? zero : zero - len, k * rowH, Math.max(len, 0.5), Math.max(rowH - (rowH > 3 ? 1 : 0), 1));
    });
    cv.rowH = rowH;
    cv.title = `${col.name}: ${n} units`;
    return cv;
  }

  function softmaxColumn(sm) {
    const div = document.createElement("div");
    div.className = "classes";
    const best = sm.probs.indexOf(Math.max(...sm.probs));
    sm.probs.forEach((p, k) => {
      const row = document.createElement("div");
      row.className = "cls" + (k === best ? " top" : "");
      row.dataset.cls = k;
      row.innerHTML = `<span>${escape(sm.classes[k])}</span><div><div class="fill" style="width:${(100 * p).toFixed(1)}%"></div></div><span>${(100 * p).toFixed(1)}%</span>`;
      div.append(row);
    });
    return div;
  }
  const escape = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  CL.escape = escape;

  function column(name, title, sub, body, leg, width) {
    const div = document.createElement("div");
    div.className = "col";
    div.dataset.layer = name;
    if (width) div.style.width = `${width}px`;
    div.innerHTML = `<h4 title="${escape(title)}">${escape(title)}</h4><div class="sub">${escape(sub)}</div>`;
    if (leg) div.append(leg);
    div.append(body);
    return div;
  }

  // Draw an overview answer into `host`; returns the pane's state for hovering and clicking.
  // `room`: {width, height} the pane may take; `zoom`: null to fit, or a size factor.
  // `scale`: "layer", "map" or "network" (the colour scale of the maps)
  CL.drawOverview = function (host, ov, onPick, room, zoom, scale = "layer") {
    host.innerHTML = "";
    const box = document.createElement("div");
    box.className = "netbox";
    const net = document.createElement("div");
    net.className = "net";
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.classList.add("links");
    net.append(svg);
    const size = plan(ov, room.width, room.height, zoom);
    const inside = ov.columns.filter((c) => c.kind !== "input" && c.shape.length === 3);
    const range = scale !== "network" || !inside.length ? scale
      : [Math.min(...inside.map((c) => c.lo)), Math.max(...inside.map((c) => c.hi))];
    const byName = {};
    for (const col of ov.columns) {
      byName[col.name] = col;
      let sub = `${col.type}, ${col.shape.join("x")}`;
      if (col.shape.length === 3) {
        const body = mapsColumn(col, size, range);
        const div = column(col.name, col.name, sub, body, legend(col, col.kind === "input" || range === "layer" ? undefined : range), size.colW);
        if (body.scrolls) div.insertAdjacentHTML("beforeend", `<div class="more">&#8597; ${col.shape[0]}, most active first</div>`);
        net.append(div);
      } else {
        net.append(column(col.name, col.name, sub, barsColumn(col, size), null, BARS_W));
      }
    }
    const sm = softmaxColumn(ov.softmax);
    sm.style.maxHeight = `${size.height}px`;
    net.append(column("softmax", "softmax", `${ov.softmax.classes.length} classes`, sm, null, SOFTMAX_W));
    box.append(net);
    host.append(box);
    if (size.scale < 1) {  // too wide even at the smallest maps: shrink the drawing to fit
      net.style.transform = `scale(${size.scale})`;
      net.style.transformOrigin = "0 0";
      box.style.height = `${Math.ceil(net.offsetHeight * size.scale)}px`;
    }
    if (ov.listed.length) {
      const p = document.createElement("p");
      p.className = "listed";
      p.textContent = "Not drawn as columns: " + ov.listed.map((l) => `${l.name} (${l.type}: ${l.why})`).join("; ");
      host.append(p);
    }
    const pane = { ov, net, svg, byName, scale: size.scale };
    for (const grid of net.querySelectorAll(".maps.scrolls")) grid.addEventListener("scroll", () => clearLinks(pane));
    wire(pane, onPick);
    return pane;
  };

  // a point of `el` in the coordinates of the net (its links' SVG), whatever the scale
  function centre(el, net, side, scale) {
    const r = el.getBoundingClientRect(), n = net.getBoundingClientRect(), z = scale || 1;
    return [((side === "right" ? r.right : side === "left" ? r.left : r.left + r.width / 2) - n.left) / z,
      (r.top + r.height / 2 - n.top) / z];
  }

  // whether `el` can be seen inside its (scrolling) column
  function visible(el) {
    const grid = el.closest(".maps");
    if (!grid || !grid.classList.contains("scrolls")) return true;
    const r = el.getBoundingClientRect(), g = grid.getBoundingClientRect();
    return r.bottom > g.top && r.top < g.bottom;
  }

  function clearLinks(pane) {
    pane.svg.innerHTML = "";
    pane.net.querySelectorAll(".src, .hot").forEach((e) => e.classList.remove("src", "hot"));
    pane.net.querySelectorAll(".col.dim").forEach((e) => e.classList.remove("dim"));
  }

  function line(pane, from, to, weight) {
    const [x1, y1] = from, [x2, y2] = to;
    const p = document.createElementNS("http://www.w3.org/2000/svg", "path");
    const mx = (x1 + x2) / 2;
    p.setAttribute("d", `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`);
    p.setAttribute("stroke", weight < 0 ? "#c0392b" : "#e67e22");
    p.setAttribute("stroke-width", String(0.6 + 1.6 * Math.min(1, Math.abs(weight))));
    p.setAttribute("fill", "none");
    p.setAttribute("opacity", "0.55");
    pane.svg.append(p);
  }

  // the elements of column `src` that value `k` of column `col` reads
  function sources(pane, col, k) {
    const srcCol = pane.net.querySelector(`.col[data-layer="${CSS.escape(col.from)}"]`);
    if (!srcCol) return [];
    const maps = [];  // by channel: a column shows its maps most active first
    for (const m of srcCol.querySelectorAll("canvas[data-map]")) maps[splitMap(m.dataset.map)[1]] = m;
    if (!maps.length) return [...srcCol.querySelectorAll("canvas.bars")];
    if (col.mix === "same") return maps[k] ? [maps[k]] : [];
    if (col.mix.startsWith("group:")) {
      const g = Number(col.mix.slice(6)), per = maps.length / g, outPer = col.shape[0] / g;
      const first = Math.floor(k / outPer) * per;
      return maps.slice(first, first + per);
    }
    return maps;
  }

  function showLinks(pane, target, col, k) {
    clearLinks(pane);
    const srcs = sources(pane, col, k);
    pane.svg.setAttribute("width", pane.net.scrollWidth);
    pane.svg.setAttribute("height", pane.net.scrollHeight);
    target.classList.add("hot");
    const to = centre(target, pane.net, "left", pane.scale);
    srcs.forEach((s) => s.classList.add("src"));
    srcs.filter(visible).slice(0, 128).forEach((s) => line(pane, centre(s, pane.net, "right", pane.scale), to, 0.5));
    const srcCol = srcs[0] && srcs[0].closest(".col");
    if (srcCol) srcCol.classList.add("dim");
  }

  function wire(pane, onPick) {
    pane.net.addEventListener("mouseover", (e) => {
      const t = e.target;
      if (t.dataset && t.dataset.map) {
        const [name, k] = splitMap(t.dataset.map);
        const col = pane.byName[name];
        if (col.kind !== "input") showLinks(pane, t, col, k);
      } else if (t.closest && t.closest(".cls")) {
        hoverClass(pane, t.closest(".cls"));
      }
    });
    pane.net.addEventListener("mousemove", (e) => {
      if (e.target.dataset && e.target.dataset.map) {  // the value under the cursor
        const t = e.target, [name, c] = splitMap(t.dataset.map), col = pane.byName[name];
        const i = Math.min(col.shape[1] - 1, Math.floor((e.offsetY / t.clientHeight) * col.shape[1]));
        const j = Math.min(col.shape[2] - 1, Math.floor((e.offsetX / t.clientWidth) * col.shape[2]));
        const out = document.getElementById("readout");
        if (out) out.textContent = `${name} ${col.channels ? col.channels[c] : "map " + c} (${i}, ${j}): ${CL.num(CL.valueAt(col, c, i, j))}`;
      }
      if (e.target.dataset && e.target.dataset.vector) {
        const col = pane.byName[e.target.dataset.vector];
        const k = Math.min(col.values.length - 1, Math.floor(e.offsetY / e.target.rowH * e.target.height / e.target.clientHeight));
        e.target.title = `${col.name} unit ${k}: ${col.values[k].toFixed(4)} (click for its formula)`;
        const out = document.getElementById("readout");
        if (out) out.textContent = `${col.name} unit ${k}: ${CL.num(col.values[k])}`;
        showLinks(pane, e.target, col, k);
      }
    });
    pane.net.addEventListener("mouseleave", () => clearLinks(pane));
    pane.net.addEventListener("click", (e) => {
      const t = e.target;
      if (t.dataset && t.dataset.map) {
        const [name, k] = splitMap(t.dataset.map);
        if (name !== "input") onPick(pane, name, k, t);
      } else if (t.dataset && t.dataset.vector) {
        const col = pane.byName[t.dataset.vector];
        const k = Math.min(col.values.length - 1, Math.floor(e.offsetY * t.height / t.clientHeight / t.rowH));
        onPick(pane, col.name, k, t);
      } else if (t.closest && t.closest(".cls")) {
        onPick(pane, "softmax", Number(t.closest(".cls").dataset.cls), t.closest(".cls"));
      }
    });
  }

  function splitMap(s) {
    const at = s.lastIndexOf(":");
    return [s.slice(0, at), Number(s.slice(at + 1))];
  }

  // a class: the logit that makes it, and the largest terms of that logit's weighted sum
  async function hoverClass(pane, row) {
    clearLinks(pane);
    const k = Number(row.dataset.cls);
    const last = pane.byName[pane.ov.softmax.from];
    row.classList.add("hot");
    if (!last || !last.values) return;
    const bars = pane.net.querySelector(`canvas[data-vector="${CSS.escape(last.name)}"]`);
    pane.svg.setAttribute("width", pane.net.scrollWidth);
    pane.svg.setAttribute("height", pane.net.scrollHeight);
    const z = pane.scale;
    const unitAt = (cv, u) => { const [x, y0] = centre(cv, pane.net, "right", z); const r = cv.getBoundingClientRect(); return [x, y0 - r.height / 2 / z + (u + 0.5) * (r.height / z / cv.height) * cv.rowH]; };
    line(pane, unitAt(bars, k), centre(row, pane.net, "left", z), 1);
    if (!CL.formulaOf) return;
    const f = await CL.formulaOf(pane, last.name, k, 0, 0);
    const feed = pane.byName[last.from];
    const fbars = feed && pane.net.querySelector(`canvas[data-vector="${CSS.escape(feed.name)}"]`);
    if (!fbars || !row.classList.contains("hot")) return;
    const m = Math.max(...f.terms.map((t) => Math.abs(t.product))) || 1;
    const to = [centre(bars, pane.net, "left", z)[0], unitAt(bars, k)[1]];
    f.terms.slice(0, 10).forEach((t) => line(pane, unitAt(fbars, t.index), to, t.product / m));
  }
})();
