"""Posts: what people ask of them (commands), how they read (card, queries), the one lifecycle
of posts and targets, and the generation job."""
