"""Agent assist: the summary and the suggested first reply that a handoff puts on the ticket.

Both are built from what the bot knew (intent, slots, entities, what it tried), so the agent
starts where the bot stopped and the customer does not repeat themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# What each intent means, in an agent's words.
INTENT_DESCRIPTIONS = {
    "request_password_reset": "cannot sign in / wants a password reset",
    "report_lost_2fa": "lost their second factor (2FA device or codes)",
    "request_refund": "wants a refund",
    "report_dispute": "disputes a charge (double or unrecognised charge, chargeback)",
    "legal_request": "has a legal request",
    "privacy_request": "has a privacy / data-protection request (GDPR/CCPA)",
    "report_security_incident": "reports a possible security incident on their account",
    "request_human": "asked to talk to a person",
    "inform_email": "gave an account e-mail address",
    "ask_latest_invoice": "asks about their latest invoice",
    "ask_charge_explanation": "asks what a charge is for",
    "ask_payment_history": "wants their payment history",
    "ask_plan_details": "asks about their plan, seats or renewal",
    "ask_payment_failed": "has a failed payment",
    "request_invoice_change": "wants an invoice corrected or re-issued",
    "request_plan_change": "wants to change or cancel their plan",
    "ask_tax_question": "has a tax / VAT question",
    "ask_pricing": "has a pricing question",
    "ask_ticket_status": "asks where a request they already made stands",
    "ask_service_status": "asks whether the service is down or slow",
}

REASON_DESCRIPTIONS = {
    "customer_asked": "the customer asked for a person",
    "mandatory_category": "this category always goes to a person",
    "account_takeover_signal": "it read like a password reset, but says someone else acted on the account",
    "low_nlu_confidence": "the bot could not understand the request twice",
    "policy_unsure": "the bot was unsure what to do next",
    "action_failed": "an automated step failed",
    "reset_rate_limited": "too many password-reset requests",
    "billing_unresolved": "the bot could not answer this billing question",
    "billing_needs_person": "this billing request needs a person",
    "not_verified": "the customer could not be verified for billing details",
}

_SIGNATURE = "\n\nBest regards,\n{agent}"
SUGGESTED_REPLIES = {
    "refund": "Hi, thanks for getting in touch about a refund. I'm looking at the charge on your account "
    "now and will confirm what we can refund, and when you'll see it, in my next message.",
    "dispute": "Hi, thanks for flagging this charge. I'm checking your billing history now. If it turns "
    "out to be a duplicate or an error, we'll reverse it right away; there's no need to contact your "
    "bank in the meantime.",
    "legal": "Hello, thank you for your message. I've passed your request to our legal team, who will "
    "reply to you directly. Could you confirm the best address for formal correspondence?",
    "privacy": "Hello, thank you for your data-protection request. We'll verify your identity and then "
    "complete it within the period the law allows (one month under GDPR). I'll keep you updated here.",
    "security_incident": "Hi, thanks for telling us straight away. I've started a security review of your "
    "account. As a precaution, please don't share any codes or passwords with anyone, including us.",
    "invoice": "Hi, thanks for your message about your invoice. I'm making the change now and will send you "
    "the corrected invoice in my next message.",
    "payment_failure": "Hi, sorry your payment didn't go through. I'm checking the payment on our side; "
    "in the meantime you can update your card in the billing portal and we'll retry automatically.",
    "plan_change": "Hi, happy to help with your plan. I'll confirm the change, the new price and when it "
    "takes effect in my next message.",
    "tax": "Hi, thanks for your tax question. I'm checking your billing details and will come back to you "
    "with the answer and, if needed, a corrected invoice.",
    "pricing": "Hi, thanks for your interest! I'll put together the pricing that fits your team and "
    "send it over shortly.",
    "other": "Hi, thanks for your billing question. I'm looking at your account now and will reply with the "
    "details shortly.",
    "account_recovery": "Hi, I can help you get back into your account. To restore access without your "
    "second factor I first need to verify your identity; I'll send you the steps by e-mail.",
}
_BY_INTENT = {
    "request_password_reset": "Hi, sorry you're having trouble signing in. I'm checking your account now and "
    "will send you a fresh way in shortly.",
}
_GENERIC = (
    "Hi, thanks for your patience, I've read your conversation with our assistant and I'm taking it "
    "from here. {ask}"
)


@dataclass(frozen=True)
class ConversationFacts:
    intent: str | None
    confidence: float | None
    reason: str
    category: str | None
    last_customer_message: str  # redacted
    collected: dict[str, str] = field(default_factory=dict)  # slot -> redacted value
    entities: list[str] = field(default_factory=list)  # "type" or "type=value" (redacted)
    bot_tried: list[str] = field(default_factory=list)
    triage: str | None = None  # "invoice (0.91; runner-up tax 0.04)"
    article_shown: str | None = None  # the last help-centre answer the bot gave, and its question
    articles: list[str] = field(default_factory=list)  # "title: url", the best matches first


def summarise(facts: ConversationFacts) -> str:
    wants = INTENT_DESCRIPTIONS.get(facts.intent or "", "unclear, see the last message")
    confidence = f" (NLU {facts.confidence:.2f})" if facts.confidence is not None else ""
    lines = [
        f"Customer wants: {wants}{confidence}.",
        f"Why a person: {REASON_DESCRIPTIONS.get(facts.reason, facts.reason)}.",
        f'Last customer message: "{facts.last_customer_message}"',
    ]
    if facts.triage:
        lines.insert(1, f"Billing triage: {facts.triage}.")
    elif facts.category:
        lines.insert(1, f"Category: {facts.category}.")
    if facts.collected:
        lines.append("Collected: " + ", ".join(f"{k}={v}" for k, v in sorted(facts.collected.items())) + ".")
    if facts.entities:
        lines.append("Entities: " + ", ".join(facts.entities) + ".")
    lines.append("Bot tried: " + (", ".join(facts.bot_tried) if facts.bot_tried else "nothing yet") + ".")
    if facts.article_shown:
        lines.append(f"Help-centre answer the bot gave: {facts.article_shown}.")
    if facts.articles:
        lines.append("Articles that match: " + "; ".join(facts.articles) + ".")
    return "\n".join(lines)


def suggest_reply(facts: ConversationFacts) -> str:
    text = SUGGESTED_REPLIES.get(facts.category or "") or _BY_INTENT.get(facts.intent or "")
    if text is None:
        ask = "Could you tell me in a sentence or two what you need help with?" if facts.reason == (
            "low_nlu_confidence") else "Let me look into this for you."
        text = _GENERIC.format(ask=ask)
    if facts.articles:  # from the help centre's index, best first: the agent picks what fits
        text += "\n\nThese help-centre articles may help:\n" + "\n".join(f"- {a}" for a in facts.articles)
    return text + _SIGNATURE.format(agent="{agent name}")
