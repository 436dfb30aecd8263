// Job page: poll the job's JSON status every second and update the progress bar, the message,
// its start and end times, then show the download link or the error once the job has ended.
(function () {
  "use strict";

  function start() {
    var box = document.getElementById("job");
    if (!box || box.getAttribute("data-done") === "true") {
      return;
    }
    var url = box.getAttribute("data-status-url");
    var bar = document.getElementById("job-progress");
    var percent = document.getElementById("job-percent");
    var state = document.getElementById("job-state");
    var message = document.getElementById("job-message");
    var downloadRow = document.getElementById("job-download-row");
    var download = document.getElementById("job-download");
    var error = document.getElementById("job-error");
    var started = document.getElementById("job-started");
    var ended = document.getElementById("job-ended");
    var colours = {queued: "grey", running: "blue", finished: "green", failed: "red"};
    var failures = 0;

    function show(status) {
      bar.value = status.progress;
      bar.textContent = status.progress + " %";
      percent.textContent = status.progress + " %";
      state.textContent = status.state_label;
      state.className = "badge badge-" + (colours[status.state] || "grey");
      message.textContent = status.message || "";
      if (started) {
        started.textContent = status.started_at || "";
      }
      if (ended) {
        ended.textContent = status.finished_at || "";
      }
      if (status.download_url) {
        download.href = status.download_url;
        download.textContent = "Download " + (status.result_name || "the file");
        downloadRow.hidden = false;
      }
      if (status.error) {
        error.textContent = status.error;
        error.hidden = false;
      }
      if (status.done) {
        box.setAttribute("data-done", "true");
      }
    }

    function poll() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin",
                  cache: "no-store"})
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (status) {
          failures = 0;
          show(status);
          if (!status.done) {
            window.setTimeout(poll, 1000);
          }
        })
        .catch(function () {
          failures += 1;
          if (failures < 30) {
            window.setTimeout(poll, 2000);
          } else {
            message.textContent = "Lost contact with the server: reload the page.";
          }
        });
    }

    window.setTimeout(poll, 1000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
