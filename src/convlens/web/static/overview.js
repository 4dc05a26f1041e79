// convlens explorer, the overview: the whole network as columns, one colour scale per layer,
// hover links to what a map (or class) is computed from. Plain JS, canvas and SVG.
"use strict";
window.CL = window.CL || {};

(function () {
  const HEIGHT = 400;  // px a column of maps may take
  const lutCache = new Map();

  function decode(b64) {
    const s = atob(b64), a = new Uint8Array(s.length);
    for (let k = 0; k < s.length; k++) a[k] = s.charCodeAt(k);
    return a;
  }

  // byte -> RGBA: values lo..hi; diverging blue-white-red around 0 when the scale crosses 0,
  // white -> blue when it does not; the input in gray (or its own colour for R, G, B).
  function lut(lo, hi, tint) {
    const key = `${lo},${hi},${tint}`;
    if (lutCache.has(key)) return lutCache.get(key);
    const t = new Uint8ClampedArray(256 * 4);
    const m = Math.max(Math.abs(lo), Math.abs(hi)) || 1;
    for (let b = 0; b < 256; b++) {
      const v = lo + (b / 255) * (hi - lo);
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

  function legend(col) {
    const wrap = document.createElement("div");
    wrap.className = "legend";
    const c = document.createElement("canvas");
    c.width = 64; c.height = 1;
    const bytes = new Uint8Array(64).map((_, k) => Math.round((k * 255) / 63));
    // the input's channels are drawn in their own brightness (tinted R, G, B for colour): a gray legend
    paint(c, bytes, 0, 1, 64, lut(col.lo, col.hi, col.kind === "input" ? [1, 1, 1] : undefined));
    wrap.append(fmt(col.lo), c, fmt(col.hi));
    return wrap;
  }
  const fmt = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));

  function thumbSize(n, h) {
    for (const s of [64, 52, 40, 32, 26, 20, 16, 12, 10, 8]) {
      const rows = Math.max(1, Math.floor(HEIGHT / (s + 4)));
      if (Math.ceil(n / rows) <= 4) return [s, Math.ceil(n / rows)];
    }
    return [6, Math.ceil(n / Math.floor(HEIGHT / 10))];
  }

  function mapsColumn(col) {
    const [n, h, w] = col.shape;
    const bytes = decode(col.data);
    const [s, cols] = thumbSize(n, h);
    const grid = document.createElement("div");
    grid.className = "maps";
    grid.style.gridTemplateColumns = `repeat(${cols}, ${s + 2}px)`;
    grid.style.gridAutoFlow = "column";
    grid.style.gridTemplateRows = `repeat(${Math.ceil(n / cols)}, ${s + 2}px)`;
    for (let c = 0; c < n; c++) {
      const cv = document.createElement("canvas");
      cv.width = w; cv.height = h;
      cv.style.width = cv.style.height = `${s}px`;
      cv.dataset.map = `${col.name}:${c}`;
      cv.title = `${col.name} ${col.channels ? col.channels[c] : "map " + c}`;
      paint(cv, bytes, c * h * w, h, w, lut(col.lo, col.hi, tintOf(col, c)));
      grid.append(cv);
    }
    return grid;
  }

  function barsColumn(col) {
    const n = col.values.length;
    const rowH = Math.max(1, Math.min(12, Math.floor(HEIGHT / n)));
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

  function column(name, title, sub, body, leg) {
    const div = document.createElement("div");
    div.className = "col";
    div.dataset.layer = name;
    div.innerHTML = `<h4>${escape(title)}</h4><div class="sub">${escape(sub)}</div>`;
    if (leg) div.append(leg);
    div.append(body);
    return div;
  }

  // Draw an overview answer into `host`; returns the pane's state for hovering and clicking.
  CL.drawOverview = function (host, ov, onPick) {
    host.innerHTML = "";
    const net = document.createElement("div");
    net.className = "net";
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.classList.add("links");
    net.append(svg);
    const byName = {};
    for (const col of ov.columns) {
      byName[col.name] = col;
      const sub = `${col.type}, ${col.shape.join("x")}`;
      const body = col.shape.length === 3 ? mapsColumn(col) : barsColumn(col);
      net.append(column(col.name, col.name, sub, body, col.shape.length === 3 ? legend(col) : null));
    }
    net.append(column("softmax", "softmax", `${ov.softmax.classes.length} classes`, softmaxColumn(ov.softmax)));
    host.append(net);
    if (ov.listed.length) {
      const p = document.createElement("p");
      p.className = "listed";
      p.textContent = "Not drawn as columns: " + ov.listed.map((l) => `${l.name} (${l.type}: ${l.why})`).join("; ");
      host.append(p);
    }
    const pane = { ov, net, svg, byName };
    wire(pane, onPick);
    return pane;
  };

  function centre(el, net, side) {
    const r = el.getBoundingClientRect(), n = net.getBoundingClientRect();
    return [(side === "right" ? r.right : side === "left" ? r.left : r.left + r.width / 2) - n.left + net.scrollLeft,
      r.top + r.height / 2 - n.top + net.scrollTop];
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
    const maps = [...srcCol.querySelectorAll("canvas[data-map]")];
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
    const to = centre(target, pane.net, "left");
    srcs.slice(0, 128).forEach((s) => { s.classList.add("src"); line(pane, centre(s, pane.net, "right"), to, 0.5); });
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
      if (e.target.dataset && e.target.dataset.vector) {
        const col = pane.byName[e.target.dataset.vector];
        const k = Math.min(col.values.length - 1, Math.floor(e.offsetY / e.target.rowH * e.target.height / e.target.clientHeight));
        e.target.title = `${col.name} unit ${k}: ${col.values[k].toFixed(4)} (click for its formula)`;
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
    const unitAt = (cv, u) => { const [x, y0] = centre(cv, pane.net, "right"); const r = cv.getBoundingClientRect(); return [x, y0 - r.height / 2 + (u + 0.5) * (r.height / cv.height) * cv.rowH]; };
    line(pane, unitAt(bars, k), centre(row, pane.net, "left"), 1);
    if (!CL.formulaOf) return;
    const f = await CL.formulaOf(pane, last.name, k, 0, 0);
    const feed = pane.byName[last.from];
    const fbars = feed && pane.net.querySelector(`canvas[data-vector="${CSS.escape(feed.name)}"]`);
    if (!fbars || !row.classList.contains("hot")) return;
    const m = Math.max(...f.terms.map((t) => Math.abs(t.product))) || 1;
    const to = [centre(bars, pane.net, "left")[0], unitAt(bars, k)[1]];
    f.terms.slice(0, 10).forEach((t) => line(pane, unitAt(fbars, t.index), to, t.product / m));
  }
})();
