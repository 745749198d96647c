// Starts the rasa-webchat widget (bundled locally, no CDN) against Rasa's socket.io channel.
// storage "local" keeps the session id and history across reloads, so a reload or a dropped
// socket continues the same conversation instead of starting a new user.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const config = JSON.parse(document.getElementById("frontdesk-widget-config").textContent);
  window.WebChat.default({
    selector: "#webchat",
    socketUrl: config.socketUrl,
    socketPath: "/socket.io/",
    customData: config.customerToken ? { customer_token: config.customerToken } : {},
    initPayload: "/greet",
    title: "Frontdesk",
    subtitle: "Support assistant",
    inputTextFieldHint: "Type a message…",
    params: { storage: "local" },
    showMessageDate: false,
  }, null);
});
