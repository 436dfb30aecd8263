// Scanner entry for cycle counts: a scanner types the code and presses Enter.
// Enter in the bin field moves on to the SKU field (instead of submitting a bin alone when a
// SKU is still to come); Enter in the SKU or quantity field submits. After the page reloads,
// the server puts the focus back on the SKU field with the bin kept. Works without this script
// too: a bin submitted alone is remembered and the SKU asked next.
(function () {
  "use strict";
  function field(name) {
    return document.querySelector('[data-scan="' + name + '"]');
  }
  document.addEventListener("DOMContentLoaded", function () {
    var bin = field("bin_code");
    var sku = field("sku_code");
    var qty = field("qty");
    if (!bin || !sku) {
      return;
    }
    bin.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && bin.value.trim() && !sku.value.trim()) {
        event.preventDefault();
        sku.focus();
      }
    });
    if (qty) {
      // A quantity typed first is kept for the next scan: Enter there goes to the SKU.
      qty.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && !sku.value.trim()) {
          event.preventDefault();
          sku.focus();
        }
      });
    }
    var focused = document.activeElement;
    if (focused && focused.select && (focused === bin || focused === sku)) {
      focused.select();
    }
  });
})();
