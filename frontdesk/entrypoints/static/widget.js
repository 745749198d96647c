// Starts the rasa-webchat widget (bundled locally, no CDN) against Rasa's socket.io channel.
// storage "session" keeps the server-issued session token and the history across reloads of the
// tab, so a reload or a dropped socket continues the same conversation; a new tab, or the next
// person at a shared computer, starts afresh. Every message says who the page is signed in as:
// the site's signed token, or null for nobody (which ends a binding to a customer who left).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const config = JSON.parse(document.getElementById("frontdesk-widget-config").textContent);
  window.WebChat.default({
    selector: "#webchat",
    socketUrl: config.socketUrl,
    socketPath: "/socket.io/",
    customData: { customer_token: config.customerToken || null },
    initPayload: "/greet",
    title: "Frontdesk",
    subtitle: "Support assistant",
    inputTextFieldHint: "Type a message…",
    params: { storage: "session" },
    showMessageDate: false,
  }, null);
});
