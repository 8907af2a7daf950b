"""What a researcher reads: the leaderboard and its export formats, figures, the report,
contact sheets and the published numbers shown beside ours."""
