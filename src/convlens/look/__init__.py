"""Looking inside: every picture and attribution, the Inspector and the run report."""
