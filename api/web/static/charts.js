// Draws every chart on the page from the option JSON the server rendered into a
// <script type="application/json"> block (no inline script, so a strict CSP fits).
(function () {
  "use strict";
  var FONT = '"Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';

  function draw(root) {
    var holders = (root || document).querySelectorAll("[data-chart]");
    holders.forEach(function (holder) {
      var block = document.getElementById(holder.getAttribute("data-chart"));
      if (!block || typeof echarts === "undefined") {
        return;
      }
      var option = JSON.parse(block.textContent);
      option.textStyle = Object.assign({ fontFamily: FONT }, option.textStyle || {});
      option.animation = false;
      var chart = echarts.getInstanceByDom(holder) || echarts.init(holder, null, { renderer: "canvas" });
      chart.setOption(option, true);
      holder.setAttribute("data-drawn", "true");
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (event) { draw(event.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (holder) {
      var chart = typeof echarts === "undefined" ? null : echarts.getInstanceByDom(holder);
      if (chart) { chart.resize(); }
    });
  });
})();
