// Small progressive enhancements; the app works without JavaScript.
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  var message = button && button.getAttribute("data-confirm");
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
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
