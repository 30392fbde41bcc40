// Draws the journey diagram page's Mermaid source (web/templates/diagram.html) as SVG.
// Mermaid's strict security level: no HTML in labels, no click handlers.
/* global mermaid */
mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
mermaid.run({ querySelector: "#diagram" }).then(() => {
  const svg = document.querySelector("#diagram svg");
  if (svg) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", document.title.replace(/ – Alongside$/, ""));
  }
});
