// Receiving by scanner: a scanner types a code and presses Enter.
// Enter in the scan box adds 1 to the line of that SKU (by code or barcode) without leaving the
// page, the box is emptied for the next scan. A code no line matches is sent to the server,
// which says why. Enter in a quantity or the bin box goes back to the scan box instead of
// posting the receipt: only the Receive button posts it. Works without this script too: each
// scan is then counted by the server.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("receive-form");
    if (!form) {
      return;
    }
    var scan = form.querySelector('[data-scan="scan"]');
    var inputs = Array.prototype.slice.call(form.querySelectorAll("input.qty-input"));

    function matching(code) {
      var upper = code.toUpperCase();
      return inputs.filter(function (input) {
        return input.dataset.sku === upper || (input.dataset.barcode && input.dataset.barcode === code);
      });
    }

    function addOne(code) {
      var lines = matching(code);
      if (!lines.length) {
        return false;
      }
      var target = lines.find(function (input) {
        return (parseInt(input.value, 10) || 0) < (parseInt(input.dataset.max, 10) || 0);
      }) || lines[0];
      target.value = (parseInt(target.value, 10) || 0) + 1;
      var row = target.closest("tr");
      inputs.forEach(function (input) { input.closest("tr").classList.remove("scanned"); });
      if (row) {
        row.classList.add("scanned");
        row.classList.toggle("has-error", target.value > (parseInt(target.dataset.max, 10) || 0));
      }
      return true;
    }

    form.addEventListener("keydown", function (event) {
      if (event.key !== "Enter") {
        return;
      }
      var field = event.target;
      if (field === scan) {
        var code = scan.value.trim();
        if (!code || addOne(code)) {
          event.preventDefault();
          scan.value = "";
        }
        return;  // an unknown code goes to the server
      }
      if (field.tagName === "INPUT" && field.type !== "submit") {
        event.preventDefault();
        if (scan) {
          scan.focus();
        }
      }
    });
  });
})();
