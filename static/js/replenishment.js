// Replenishment list: the header checkbox ticks (or unticks) every line on the page.
document.addEventListener("change", function (event) {
  var box = event.target;
  if (!box.classList || !box.classList.contains("tick-all")) {
    return;
  }
  var table = box.closest("table");
  Array.prototype.forEach.call(table.querySelectorAll("input[name='sku_ids']"), function (el) {
    el.checked = box.checked;
  });
});
