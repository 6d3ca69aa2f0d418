"""Help requests, volunteers, solidarity kitchens and signposting (issue: requests service)."""
