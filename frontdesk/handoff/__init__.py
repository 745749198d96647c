"""Human handoff: the policy (mandatory human categories, queues, priorities), the ticket outbox,
the clarification offered when the bot is unsure and out-of-band escalations."""
