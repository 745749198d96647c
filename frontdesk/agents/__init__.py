"""Support agents: their directory and tokens, the workspace, agent assist on tickets, their
feedback on the bot, and the conversation port the workspace talks to the dialogue engine through."""
