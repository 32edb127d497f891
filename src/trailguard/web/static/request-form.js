// Drafting form, progressively enhanced: each item of a repeatable list shows only the
// fields of its chosen type. Without JavaScript every type's fields stay visible and the
// server reads those of the chosen type; "Add another item" works without JavaScript too.
(function () {
  "use strict";
  function sync(row) {
    var choice = row.querySelector("select.variant-choice");
    if (!choice) { return; }
    row.querySelectorAll(".variant").forEach(function (part) {
      var shown = part.getAttribute("data-variant") === choice.value;
      part.hidden = !shown;
      part.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !shown;
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".row-group").forEach(function (row) {
      sync(row);
      var choice = row.querySelector("select.variant-choice");
      if (choice) { choice.addEventListener("change", function () { sync(row); }); }
    });
  });
})();
