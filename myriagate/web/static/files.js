// The file browser's one nicety (the pages work without it): the end of a file is shown
// scrolled to its last line, where a reader of a log looks first.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const pane = document.querySelector("pre[data-end='tail']");
  if (pane) pane.scrollTop = pane.scrollHeight;
});
