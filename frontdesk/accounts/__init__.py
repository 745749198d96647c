"""Customers: who they are (identity and CRM ports), their passwords, the support site's signed
customer tokens and the e-mail one-time codes that verify them."""
