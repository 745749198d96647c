"""What every domain package stands on: the database engine and the declarative base, the audit
trail, PII redaction, rate limits and the issued chat sessions."""
