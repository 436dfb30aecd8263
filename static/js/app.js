// Small progressive enhancements; the app works without JavaScript.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var message = button && button.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
    return;
  }
  var form = event.target;
  if (form.method.toLowerCase() !== "post") {
    return;
  }
  // A form in flight cannot be sent again: a second click while the first is on its way would
  // only be answered "already done" by the server (its one-time key), which is what counts.
  if (form.dataset.inFlight) {
    event.preventDefault();
    return;
  }
  form.dataset.inFlight = "1";
  var buttons = Array.prototype.filter.call(
    form.querySelectorAll("button[type=submit], button:not([type]), input[type=submit]"),
    function (b) { return !b.disabled; });
  // Disabled after this event, so the clicked button's name and value are still sent.
  window.setTimeout(function () {
    buttons.forEach(function (b) { b.disabled = true; b.dataset.inFlight = "1"; });
  }, 0);
  // A download (PDF, Excel) leaves the page where it is: free the form again after a while.
  window.setTimeout(function () {
    delete form.dataset.inFlight;
    buttons.forEach(function (b) { b.disabled = false; delete b.dataset.inFlight; });
  }, 8000);
});

// Coming back to a page from the browser's cache shows its forms ready again.
window.addEventListener("pageshow", function () {
  document.querySelectorAll("[data-in-flight]").forEach(function (el) {
    delete el.dataset.inFlight;
    if (el.tagName !== "FORM") { el.disabled = false; }
  });
});

// Scanner forms: a scanner types a code and presses Enter. In a form marked "scanform", Enter in
// a field moves on to the next empty required field, and submits once every required field is
// filled (optional fields, such as a parcel's dimensions when a box is chosen, are skipped).
document.addEventListener("keydown", function (event) {
  var field = event.target;
  var form = field && field.form;
  if (event.key !== "Enter" || !form || !form.classList.contains("scanform") ||
      field.tagName === "TEXTAREA" || field.tagName === "BUTTON") {
    return;
  }
  var fields = Array.prototype.filter.call(form.elements, function (el) {
    return (el.tagName === "INPUT" && el.type !== "hidden" && el.type !== "checkbox") ||
      el.tagName === "SELECT";
  });
  var next = fields.slice(fields.indexOf(field) + 1).find(function (el) {
    return !el.value && el.required;
  });
  if (next) {
    event.preventDefault();
    next.focus();
  }
});
