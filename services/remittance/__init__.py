"""The diaspora payment service and its double-entry ledger (issue: remittance service)."""
