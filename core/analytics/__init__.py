"""Performance summaries: figures per post and period, best time to post, charts."""
