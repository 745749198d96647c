"""Development helpers: synthetic demo customers and the development mailbox."""
