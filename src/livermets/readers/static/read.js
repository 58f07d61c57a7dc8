"use strict";
// The reading viewer: one fetch of the whole region (int16 HU + lesion mask), window/level,
// zoom and pan on a canvas in the browser, keyboard shortcuts. No inline code (strict CSP).
(function () {
  var canvas = document.getElementById("view");
  if (!canvas) return;
  var ctx = canvas.getContext("2d"), W = canvas.width, H = canvas.height;
  var shape = canvas.dataset.shape.split(",").map(Number), nz = shape[0], ny = shape[1],
    nx = shape[2];
  var spacing = canvas.dataset.spacing.split(",").map(Number);
  var aspect = spacing[1] / spacing[0] || 1, scale = canvas.dataset.scale;
  var slider = document.getElementById("slider"), marker = document.getElementById("marker");
  var sliceLabel = document.getElementById("slice-label");
  var wlLabel = document.getElementById("wl-label"), zoomLabel = document.getElementById("zoom-label");
  var loading = document.getElementById("loading"), form = document.getElementById("rate-form");
  var KEY = "livermets.readers.window";
  var state = { slice: +canvas.dataset.start, zoom: 1, panX: 0, panY: 0 };
  var hu = null, mask = null, drag = null, submitting = false;
  var off = document.createElement("canvas");
  off.width = nx; off.height = ny;
  var offCtx = off.getContext("2d"), pixels = offCtx.createImageData(nx, ny);

  function preset(name) {
    var value = canvas.getAttribute("data-preset-" + name);
    if (!value) return null;
    var lw = value.split(",").map(Number);
    return { name: name, level: lw[0], width: lw[1] };
  }
  function saved() {
    try {
      var w = JSON.parse(localStorage.getItem(KEY) || "null");
      if (w && isFinite(w.level) && isFinite(w.width) && w.width >= 1) {
        return { name: typeof w.name === "string" ? w.name : "", level: +w.level, width: +w.width };
      }
    } catch (e) { /* no storage: use the default */ }
    return null;
  }
  var wl = saved() || preset("liver");
  function remember() {
    try { localStorage.setItem(KEY, JSON.stringify(wl)); } catch (e) { /* private mode */ }
  }

  function labels() {
    sliceLabel.textContent = "slice " + (state.slice + 1) + " / " + nz;
    wlLabel.textContent = "W " + Math.round(wl.width) + " L " + Math.round(wl.level) +
      (wl.name ? " (" + wl.name + ")" : "");
    zoomLabel.textContent = "zoom " + state.zoom.toFixed(2) + "×";
    canvas.dataset.slice = String(state.slice);
  }

  function render() {
    labels();
    if (!hu) return;
    var base = state.slice * nx * ny, lo = wl.level - wl.width / 2, k = 255 / wl.width;
    var d = pixels.data, n = nx * ny, p, q, v;
    for (p = 0; p < n; p++) {
      v = (hu[base + p] - lo) * k;  // the clamped array clips to 0..255
      q = p * 4; d[q] = d[q + 1] = d[q + 2] = v; d[q + 3] = 255;
    }
    if (marker.checked) {
      for (p = 0; p < n; p++) {
        if (!mask[base + p]) continue;
        var x = p % nx, y = (p - x) / nx;
        if (x === 0 || x === nx - 1 || y === 0 || y === ny - 1 || !mask[base + p - 1] ||
            !mask[base + p + 1] || !mask[base + p - nx] || !mask[base + p + nx]) {
          q = p * 4; d[q] = 255; d[q + 1] = 215; d[q + 2] = 0;
        }
      }
    }
    offCtx.putImageData(pixels, 0, 0);
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, W, H);
    var s = Math.min(W / nx, H / (ny * aspect)) * state.zoom, w = nx * s, h = ny * aspect * s;
    ctx.imageSmoothingEnabled = s < 4;  // crisp pixels when zoomed in far
    ctx.drawImage(off, (W - w) / 2 + state.panX, (H - h) / 2 + state.panY, w, h);
  }

  function setSlice(index) {
    state.slice = Math.max(0, Math.min(nz - 1, index));
    slider.value = String(state.slice);
    render();
  }
  function resetView() { state.zoom = 1; state.panX = 0; state.panY = 0; render(); }
  function submit() {  // form.submit is shadowed by the button with id "submit"
    if (submitting) return;
    if (form.requestSubmit) { form.requestSubmit(); return; }  // validates, fires "submit"
    if (!form.reportValidity()) return;
    submitting = true;
    document.getElementById("submit").disabled = true;
    HTMLFormElement.prototype.submit.call(form);
  }

  slider.addEventListener("input", function () { setSlice(+slider.value); });
  marker.addEventListener("change", render);
  document.getElementById("reset-view").addEventListener("click", resetView);
  canvas.addEventListener("dblclick", resetView);
  document.querySelectorAll(".win").forEach(function (b) {
    b.addEventListener("click", function () {
      wl = preset(b.dataset.window) || wl; remember(); render();
    });
  });

  canvas.addEventListener("contextmenu", function (e) { e.preventDefault(); });
  canvas.addEventListener("mousedown", function (e) {
    e.preventDefault();
    canvas.focus();
    drag = { x: e.clientX, y: e.clientY, pan: e.button === 1 || e.shiftKey, wl: wl,
      panX: state.panX, panY: state.panY };
  });
  window.addEventListener("mousemove", function (e) {
    if (!drag) return;
    var r = canvas.getBoundingClientRect(), f = W / r.width;
    var dx = (e.clientX - drag.x) * f, dy = (e.clientY - drag.y) * f;
    if (drag.pan) {
      state.panX = drag.panX + dx; state.panY = drag.panY + dy;
    } else {  // right = wider, down = higher level (darker), in steps that follow the width
      wl = { name: "", width: Math.max(1, drag.wl.width + dx * drag.wl.width / 256),
        level: drag.wl.level + dy * drag.wl.width / 512 };
    }
    render();
  });
  window.addEventListener("mouseup", function () {
    if (drag && !drag.pan) remember();
    drag = null;
  });
  canvas.addEventListener("wheel", function (e) {
    e.preventDefault();
    var z = Math.max(0.5, Math.min(16, state.zoom * (e.deltaY < 0 ? 1.25 : 0.8)));
    var f = z / state.zoom, r = canvas.getBoundingClientRect();
    var cx = (e.clientX - r.left) * W / r.width - W / 2, cy = (e.clientY - r.top) * H / r.height - H / 2;
    state.panX = cx - (cx - state.panX) * f; state.panY = cy - (cy - state.panY) * f;
    state.zoom = z;
    render();
  }, { passive: false });

  var STEPS = { ArrowUp: -1, ArrowDown: 1, PageUp: -5, PageDown: 5 };
  document.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    var t = e.target, tag = t && t.tagName ? t.tagName : "";
    var typing = tag === "TEXTAREA" || tag === "SELECT" ||
      (tag === "INPUT" && ["radio", "checkbox", "range"].indexOf(t.type) < 0);
    if (e.key === "Enter") {
      if (typing || tag === "BUTTON" || tag === "A") return;  // the browser's own Enter
      e.preventDefault();
      submit();
      return;
    }
    if (typing) return;
    if (STEPS[e.key]) { e.preventDefault(); setSlice(state.slice + STEPS[e.key]); return; }
    if (!/^[1-5]$/.test(e.key)) return;
    e.preventDefault();
    if (scale === "five-point") {
      var radio = document.getElementById("rating-" + e.key);
      if (radio) radio.checked = true;
    } else {  // probability scale: the middle of the key's fifth (1 = 10 ... 5 = 90), editable
      document.getElementById("rating").value = String(20 * +e.key - 10);
    }
  });
  form.addEventListener("submit", function () {
    submitting = true;
    document.getElementById("submit").disabled = true;
  });

  labels();
  fetch(canvas.dataset.volume, { credentials: "same-origin" }).then(function (r) {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.arrayBuffer();
  }).then(function (buf) {
    var n = nx * ny * nz;
    if (buf.byteLength !== 3 * n) throw new Error("unexpected image size");
    hu = new Int16Array(buf, 0, n);
    mask = new Uint8Array(buf, 2 * n, n);
    loading.hidden = true;
    canvas.dataset.ready = "1";
    render();
  }).catch(function (err) {
    loading.textContent = "Could not load the images (" + err.message + "); reload the page.";
    loading.className = "error";
  });
})();
