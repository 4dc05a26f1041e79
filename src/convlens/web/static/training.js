// convlens explorer, training: loss and accuracy curves, and the first layer's filters with an
// epoch slider that scrubs through their evolution.
"use strict";
window.CL = window.CL || {};

(function () {
  function curve(metrics, keys, title, percent) {
    const W = 320, H = 196, L = 44, B = 42;
    const epochs = metrics.map((m) => m.epoch);
    const vals = keys.flatMap((k) => metrics.map((m) => m[k])).filter((v) => v !== undefined && v !== null);
    if (!vals.length) return "";
    const lo = Math.min(...vals), hi = Math.max(...vals), span = hi - lo || 1;
    const x = (e) => L + ((e - epochs[0]) / Math.max(1, epochs[epochs.length - 1] - epochs[0])) * (W - L - 10);
    const y = (v) => 10 + (1 - (v - lo) / span) * (H - B - 10);
    const f = (v) => (percent ? `${(100 * v).toFixed(1)}%` : v.toFixed(3));
    const colours = ["#2f6db5", "#e67e22"];
    const lines = keys.map((k, n) => `<polyline fill="none" stroke="${colours[n]}" stroke-width="2" points="${metrics.map((m) => `${x(m.epoch)},${y(m[k])}`).join(" ")}"/>` +
      `<text x="${L + 130 * n}" y="${H - 2}" font-size="11" fill="${colours[n]}">&#9644; ${k.replace("_", " ")}</text>`).join("");
    return `<svg width="${W}" height="${H}" role="img" aria-label="${title}"><text x="${L}" y="9" font-size="11">${title}</text>` +
      `<line x1="${L}" y1="${H - B}" x2="${W - 10}" y2="${H - B}" stroke="#999"/><line x1="${L}" y1="10" x2="${L}" y2="${H - B}" stroke="#999"/>` +
      `<text x="${L - 4}" y="${y(hi) + 4}" text-anchor="end" font-size="10">${f(hi)}</text><text x="${L - 4}" y="${y(lo)}" text-anchor="end" font-size="10">${f(lo)}</text>` +
      `<text x="${(W + L) / 2}" y="${H - B + 13}" text-anchor="middle" font-size="10">epoch ${epochs[0]}..${epochs[epochs.length - 1]}</text>${lines}</svg>`;
  }

  CL.drawCurves = function (host, metrics) {
    host.innerHTML = metrics && metrics.length
      ? curve(metrics, ["train_loss", "test_loss"], "loss", false) + curve(metrics, ["train_accuracy", "test_accuracy"], "accuracy", true)
      : `<p class="hint">no metrics recorded yet</p>`;
  };

  // filters: [epoch][out][in][kh][kw]; colour filters (3 inputs) as RGB, others as blue-white-red
  function drawFilters(host, h, e) {
    const w = h.filters[e];
    const [O, C, kh, kw] = h.shape;
    const s = Math.max(4, Math.floor(40 / Math.max(kh, kw)));
    const cols = Math.min(16, O), rows = Math.ceil(O / cols);
    let cv = host.querySelector("canvas");
    if (!cv) { cv = document.createElement("canvas"); host.append(cv); }
    cv.width = cols * (kw * s + 4); cv.height = rows * (kh * s + 4);
    const ctx = cv.getContext("2d");
    ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, cv.width, cv.height);
    for (let o = 0; o < O; o++) {
      const ox = (o % cols) * (kw * s + 4) + 2, oy = Math.floor(o / cols) * (kh * s + 4) + 2;
      for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) {
        if (C === 3) {
          const rgb = [0, 1, 2].map((c) => Math.round(255 * (0.5 + w[o][c][a][b] / (2 * h.lim))));
          ctx.fillStyle = `rgb(${rgb})`;
        } else {
          const v = w[o][0][a][b] / h.lim, f = Math.min(1, Math.abs(v));
          ctx.fillStyle = v >= 0 ? `rgb(255,${255 - 200 * f},${255 - 215 * f})` : `rgb(${255 - 215 * f},${255 - 160 * f},255)`;
        }
        ctx.fillRect(ox + b * s, oy + a * s, s, s);
      }
    }
  }

  CL.loadHistory = async function (run) {
    const host = document.getElementById("history"), slider = document.getElementById("epoch");
    const label = document.getElementById("epoch-label");
    host.innerHTML = "";
    const h = await CL.api(`/api/runs/${encodeURIComponent(run)}/history`);
    if (!h.layer) { label.textContent = ""; slider.hidden = true; host.innerHTML = `<p class="hint">training recorded no filters (train with --record-filters first)</p>`; return; }
    slider.hidden = false;
    slider.max = h.epochs.length - 1;
    slider.value = h.epochs.length - 1;
    const show = () => {
      const e = Number(slider.value);
      label.textContent = `${h.layer}, epoch ${h.epochs[e]}${h.epochs[e] === 0 ? " (initial weights)" : ""}; scale ±${h.lim.toFixed(3)}`;
      label.dataset.epoch = h.epochs[e];
      drawFilters(host, h, e);
    };
    slider.oninput = show;
    show();
  };
})();
