// Starts Swagger UI on /api/openapi.json. A file, not an inline script, so the page works under
// a Content-Security-Policy of script-src 'self'.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No third-party validator badge: the page talks to this server only.
    validatorUrl: null,
    // Tokens stay in memory; a patient-data API should not leave them in localStorage.
    persistAuthorization: false,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0,
  });
});
