"""Posts: drafting, editing, regenerating, cancelling, and what is in the queue."""
