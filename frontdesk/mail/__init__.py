"""The transactional e-mail outbox and its SMTP sender."""
