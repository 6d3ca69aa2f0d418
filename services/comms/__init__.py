"""Store-and-forward relay messaging and alerts (issue: comms service)."""
