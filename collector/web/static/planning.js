// The secretary's planning pages (collector/web/templates/meeting_edit.html, meeting_plan.html).
// The server checks everything again; this only spares a round trip: a calendar file over the
// upload limit is refused here with the page's own message (the server answers 413 before reading
// it), and a button that sends is disabled once clicked (the server never sends twice anyway).
"use strict";
(function () {
  var form = document.getElementById("import");
  if (form) {
    form.addEventListener("submit", function (ev) {
      var input = document.getElementById("ics");
      var box = document.getElementById("import-error");
      var max = Number(form.getAttribute("data-max-bytes"));
      var file = input && input.files && input.files[0];
      var problem = !file ? box.getAttribute("data-none") : (file.size > max ? box.getAttribute("data-too-large") : "");
      if (problem) {
        ev.preventDefault();
        box.textContent = problem;
        box.hidden = false;
      }
    });
  }
  document.querySelectorAll("form[data-send]").forEach(function (f) {
    f.addEventListener("submit", function () {
      var b = f.querySelector("button");
      window.setTimeout(function () { if (b) b.disabled = true; }, 0);
    });
  });
})();
