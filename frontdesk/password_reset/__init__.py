"""Password reset by e-mail, and the signs that a login problem is something else (an account
takeover, a lost second factor)."""
