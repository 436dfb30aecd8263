// Single-item lane: print the label framed on the page as soon as it has loaded, and keep the
// scan field ready. A browser driven by tests (navigator.webdriver) is not asked to print.
(function () {
  "use strict";
  var frame = document.getElementById("lane-label");
  if (frame && !navigator.webdriver) {
    frame.addEventListener("load", function () {
      try {
        frame.contentWindow.focus();
        frame.contentWindow.print();
      } catch (err) {
        window.open(frame.src, "_blank", "noopener");
      }
      var code = document.getElementById("code");
      if (code) { code.focus(); }
    });
  }
  var form = document.getElementById("lane-form");
  if (form) {
    // one submission per scan: a scanner's repeated Enter while the page loads sends nothing
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
    });
  }
})();
