"""notes: a small FastAPI service (a note's title and body, edited with PATCH)."""
