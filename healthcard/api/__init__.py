"""The terminal REST API (/api/v1/): thin DRF views over the domain functions in
healthcard.codes, healthcard.usage, healthcard.cards and healthcard.links. docs/api.md
describes every endpoint."""
