"""The staff counter console: sign-in, search, registration, printing (docs/console.md)."""
