"""Reports from result records: leaderboard tables, accuracy-vs-compression curves, an HTML page."""
