"use strict";
(function () {
  if (!document.getElementById("slice")) return;
  var img = document.getElementById("slice"), slider = document.getElementById("slider");
  var label = document.getElementById("slice-label"), marker = document.getElementById("marker");
  var overlay = document.getElementById("overlay"), win = "liver";
  var base = img.dataset.base;
  function draw() {
    label.textContent = "slice " + (+slider.value + 1) + " / " + (+slider.max + 1) + " · " + win;
    img.src = base + slider.value + ".png?window=" + win + "&marker=" + (marker.checked ? 1 : 0) +
      "&overlay=" + (overlay && overlay.checked ? 1 : 0);
  }
  slider.addEventListener("input", draw); marker.addEventListener("change", draw);
  if (overlay) overlay.addEventListener("change", draw);
  document.querySelectorAll(".win").forEach(function (b) {
    b.addEventListener("click", function () { win = b.dataset.window; draw(); });
  });
  img.addEventListener("wheel", function (e) {
    e.preventDefault();
    slider.value = Math.min(+slider.max, Math.max(0, +slider.value + (e.deltaY > 0 ? 1 : -1)));
    draw();
  });
  document.getElementById("rate-form").addEventListener("submit", function () {
    document.getElementById("submit").disabled = true;
  });
  label.textContent = "slice " + (+slider.value + 1) + " / " + (+slider.max + 1) + " · " + win;
})();
