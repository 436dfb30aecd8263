// The manager dashboard's charts: drawn with the vendored Chart.js from the page's JSON block
// (<script type="application/json" id="dashboard-data">); clicking a bar or slice opens the
// list behind it. No inline script: the CSP forbids it.
(function () {
  "use strict";

  var COLOURS = ["#2563eb", "#16a34a", "#f59e0b", "#dc2626", "#7c3aed", "#0891b2",
                 "#db2777", "#65a30d", "#ea580c", "#475569"];

  function readData() {
    var node = document.getElementById("dashboard-data");
    if (!node) { return null; }
    try { return JSON.parse(node.textContent); } catch (e) { return null; }
  }

  function opener(links) {
    return function (event, elements) {
      if (!elements || !elements.length) { return; }
      var first = elements[0];
      var list = Array.isArray(links[0]) ? links[first.datasetIndex] : links;
      var url = list && list[first.index];
      if (url) { window.location.href = url; }
    };
  }

  function pointer(event, elements) {
    var target = event.native && event.native.target;
    if (target) { target.style.cursor = elements.length ? "pointer" : "default"; }
  }

  function canvas(name) {
    return document.querySelector('canvas[data-chart="' + name + '"]');
  }

  function bar(name, spec, label, horizontal) {
    var node = canvas(name);
    if (!node || !spec || !spec.labels.length) { return; }
    new window.Chart(node, {
      type: "bar",
      data: {labels: spec.labels, datasets: [{label: label, data: spec.values,
             backgroundColor: spec.labels.map(function (_, i) { return COLOURS[i % COLOURS.length]; })}]},
      options: {indexAxis: horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false,
                plugins: {legend: {display: false}}, onClick: opener(spec.links), onHover: pointer}
    });
  }

  // the series' names come with the data, in the reader's language
  var TEXT = {};

  function text(key, english) {
    return TEXT[key] || english;
  }

  function orders(spec) {
    var node = canvas("orders");
    if (!node || !spec) { return; }
    var late = spec.shipped.map(function (n, i) { return n - spec.on_time[i]; });
    new window.Chart(node, {
      type: "bar",
      data: {labels: spec.labels, datasets: [
        {label: text("received", "Received"), data: spec.received, backgroundColor: "#2563eb",
         stack: "received"},
        {label: text("on_time", "Shipped on time"), data: spec.on_time,
         backgroundColor: "#86efac", stack: "shipped"},
        {label: text("late", "Shipped late"), data: late, backgroundColor: "#16a34a",
         stack: "shipped"}
      ]},
      options: {responsive: true, maintainAspectRatio: false, onHover: pointer,
                scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true}},
                onClick: opener([spec.received_links, spec.shipped_links, spec.shipped_links])}
    });
  }

  function start() {
    var data = readData();
    if (!data || !window.Chart) { return; }
    TEXT = data.text || {};
    orders(data.orders);
    bar("countries", data.countries, text("parcels", "Parcels"), true);
    bar("services", data.services, text("parcels", "Parcels"), true);
    bar("brands", data.brands, text("stock_value", "Stock value"), true);
    bar("categories", data.categories, text("stock_value", "Stock value"), true);
    bar("reasons", data.reasons, text("units_returned", "Units returned"), true);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
