// The agent inbox: a thin client of the agent API (/api/agent). No framework, no build step.
// Every value from the server is inserted as text, never as HTML.
"use strict";

const API = "/api/agent";
const TOKEN_KEY = "frontdesk.agentToken"; // sessionStorage: gone when the tab closes
let current = null; // the reference of the open handoff
let refreshTimer = null;
let agentName = "";

const $ = (id) => document.getElementById(id);

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(method, path, body) {
  const response = await fetch(API + path, {
    method,
    headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401) { signOut("Your token was not accepted. Please sign in again."); }
  if (!response.ok) { throw new Error(data.error || ("HTTP " + response.status)); }
  return data;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function say(message, isError) {
  $("status").textContent = message;
  $("status").className = isError ? "error" : "";
}

async function signIn(event) {
  event.preventDefault();
  const typed = $("token").value.trim();
  if (typed) sessionStorage.setItem(TOKEN_KEY, typed);
  try {
    const me = await api("GET", "/me");
    agentName = me.name;
    $("whoami").textContent = "Signed in as " + me.name;
    $("sign-in").hidden = true;
    $("inbox").hidden = false;
    $("sign-out").hidden = false;
    $("token").value = "";
    await refresh();
    refreshTimer = setInterval(refresh, 3000);
  } catch (problem) {
    sessionStorage.removeItem(TOKEN_KEY);
    $("sign-in-error").textContent = problem.message;
    $("sign-in-error").hidden = false;
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refreshTimer);
  $("inbox").hidden = true;
  $("sign-out").hidden = true;
  $("sign-in").hidden = false;
  $("whoami").textContent = "";
  if (message) { $("sign-in-error").textContent = message; $("sign-in-error").hidden = false; }
}

async function refresh() {
  const [queues, handoffs] = await Promise.all([api("GET", "/queues"), api("GET", "/handoffs")]);
  const queueList = $("queues");
  queueList.replaceChildren(...queues.filter((q) => q.open > 0).map((q) => {
    const item = element("li");
    item.append(element("span", q.name), element("span", `${q.open} open · ${q.unclaimed} unclaimed` +
      (q.overdue ? ` · ${q.overdue} overdue` : ""), q.overdue ? "overdue" : ""));
    return item;
  }));
  if (!queueList.children.length) queueList.append(element("li", "No open handoffs."));
  $("handoffs").replaceChildren(...handoffs.map((h) => {
    const button = element("button");
    button.type = "button";
    button.dataset.reference = h.reference;
    if (h.reference === current) button.classList.add("selected");
    const due = h.overdue ? `overdue ${-h.sla_minutes_left} min` : `due in ${h.sla_minutes_left} min`;
    button.append(element("strong", h.reference + " "), element("span", h.priority, "prio-" + h.priority),
      element("span", ` · ${h.queue} · ${h.tier || "anonymous"} · `),
      element("span", due, h.overdue ? "overdue" : ""), element("br"), element("span", h.subject),
      element("br"), element("span", h.claimed_by ? "claimed by " + h.claimed_by : "unclaimed"));
    button.addEventListener("click", () => open(h.reference));
    const item = element("li");
    item.append(button);
    return item;
  }));
  if (current) await showTicket(current);
}

async function open(reference) {
  current = reference;
  say("");
  $("reply-text").value = "";
  await refresh();
}

async function showTicket(reference) {
  const t = await api("GET", "/handoffs/" + encodeURIComponent(reference));
  $("no-ticket").hidden = true;
  $("ticket-view").hidden = false;
  $("ticket-subject").textContent = `${t.reference} · ${t.subject}`;
  const customer = t.customer_id ? `${t.customer_id} (${t.plan}, ${t.tier})` : "anonymous";
  $("ticket-meta").textContent = `${t.status} · queue ${t.queue} · priority ${t.priority} · ` +
    `customer ${customer} · channel ${t.channel} · ` + (t.claimed_by ? "claimed by " + t.claimed_by : "unclaimed");
  $("ticket-summary").textContent = t.summary;
  $("ticket-suggested").textContent = t.suggested_reply;
  $("bot-intent").textContent = `${t.intent || "none"}, ${t.confidence === null ? "?" : t.confidence.toFixed(2)}`;
  $("transcript").replaceChildren(...t.transcript.map((turn) => {
    const item = element("li", null, turn.speaker);
    item.append(element("span", turn.speaker === "agent" ? "Agent " + turn.agent : turn.speaker, "who"),
      document.createTextNode(turn.text));
    return item;
  }));
  for (const id of ["send-reply", "add-note", "claim", "close"]) { $(id).disabled = t.status !== "open"; }
}

async function act(label, work) {
  try {
    await work();
    say(label);
    await refresh();
  } catch (problem) {
    say(problem.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("use-suggested").addEventListener("click", () => {
    $("reply-text").value = $("ticket-suggested").textContent.replaceAll("{agent name}", agentName);
    $("reply-text").focus();
  });
  $("reply-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("reply-text").value.trim();
    if (!text) { say("Write a reply first.", true); return; }
    act("Reply sent.", async () => {
      await api("POST", `/handoffs/${encodeURIComponent(current)}/reply`, { text });
      $("reply-text").value = "";
    });
  });
  $("add-note").addEventListener("click", () => {
    const text = $("reply-text").value.trim();
    if (!text) { say("Write the note in the box first.", true); return; }
    act("Internal note added.", async () => {
      await api("POST", `/handoffs/${encodeURIComponent(current)}/notes`, { text });
      $("reply-text").value = "";
    });
  });
  $("claim").addEventListener("click", () =>
    act("Claimed.", () => api("POST", `/handoffs/${encodeURIComponent(current)}/claim`)));
  $("close").addEventListener("click", () =>
    act("Closed: the bot is back and has asked for a rating.",
      () => api("POST", `/handoffs/${encodeURIComponent(current)}/close`)));
  $("feedback-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const correct = new FormData(event.target).get("correct") === "yes";
    const correctIntent = $("correct-intent").value.trim() || null;
    act("Feedback saved. Thank you!", () => api("POST", `/handoffs/${encodeURIComponent(current)}/feedback`,
      { intent_correct: correct, correct_intent: correct ? null : correctIntent }));
  });
  if (token()) { signIn(new Event("submit")); }
});
