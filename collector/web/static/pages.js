// Small behaviours of the static pages (no inline handlers: the pages' CSP forbids them).
"use strict";
document.addEventListener("click", function (ev) {
  if (ev.target.closest && ev.target.closest("[data-print]")) window.print();
});
document.addEventListener("focusin", function (ev) {
  if (ev.target.matches && ev.target.matches("input[data-select]")) ev.target.select();
});
